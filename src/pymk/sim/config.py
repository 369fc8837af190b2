"""Settings of the simulator: one frozen dataclass, validated on construction.

The defaults are tuned so that the simulated data set, read back as interactions and split by DESIGN §4,
has the shape of the real sets in ``eval-data`` (see :mod:`pymk.sim.shape`): average clustering,
degree skew (p99/median) and the share of new pairs with a common neighbour all inside the real ranges,
at 20k users and at 1M users / 20M connections.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from pymk.errors import InvalidInput

DAY = 86_400
#: 2024-01-01T00:00:00Z: the default first second of a simulation.
DEFAULT_START_TS = 1_704_067_200
DEFAULT_AVG_DEGREE = 20.0


@dataclass(frozen=True, slots=True)
class CommunityKind:
    """One kind of community (schools, workplaces, cities): every user belongs to exactly one of each.

    ``mean_size`` fixes how many communities there are (``users / mean_size``); sizes are skewed by a
    lognormal weight with ``size_sigma``; ``weight`` is how often a same-community tie uses this kind.
    """

    name: str
    mean_size: float
    size_sigma: float
    weight: float


DEFAULT_KINDS: tuple[CommunityKind, ...] = (
    CommunityKind("school", 150.0, 1.0, 0.35),
    CommunityKind("workplace", 40.0, 1.2, 0.45),
    CommunityKind("city", 5_000.0, 1.5, 0.20),
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. Times are UNIX seconds (UTC); rates are per connection unless named otherwise.

    Size and time: ``connections`` is the number of ``connect`` events (distinct pairs) to produce; when
    ``None`` it is ``round(users * avg_degree / 2)``. The span is ``days`` long from ``start_ts``, cut into
    ``epochs`` steps (the graph that triadic closure walks is refreshed once per epoch).

    Population: ``initial_share`` of the users arrive in the first days, the rest at a rate growing as
    ``exp(growth * t / span)``; activity is lognormal(``activity_sigma``), multiplied for newcomers by up
    to ``1 + newcomer_boost``, decaying over ``newcomer_days``; ``kinds`` are the community kinds;
    ``delete_share`` of the users are deleted at some point.

    Connections: formed by triadic closure (``p_fof``), a tie inside a shared community (``p_community``)
    or a global choice (the rest), degree-biased with probability ``pa_share`` and uniform otherwise.

    Activity: ``view_before_connect``/``message_before_connect`` are the chances that a connection is
    preceded by a profile view/message between the pair; ``messages_per_connection`` and
    ``likes_per_connection`` are mean follow-ups along each edge; ``follows_per_connection`` and
    ``views_per_connection`` (views that lead to nothing) are drawn per connection formed;
    ``block_rate``/``disconnect_rate`` are endings per connection formed.
    """

    users: int = 20_000
    connections: int | None = None
    avg_degree: float = DEFAULT_AVG_DEGREE
    days: float = 180.0
    seed: int = 0
    start_ts: int = DEFAULT_START_TS
    epochs: int = 90
    # Population: arrivals, activity, communities, deletions.
    initial_share: float = 0.15
    growth: float = 1.5
    activity_sigma: float = 1.4
    newcomer_boost: float = 4.0
    newcomer_days: float = 10.0
    kinds: tuple[CommunityKind, ...] = field(default=DEFAULT_KINDS)
    delete_share: float = 0.002
    # How connections form.
    p_fof: float = 0.55
    p_community: float = 0.35
    pa_share: float = 0.6
    # Activity around connections.
    view_before_connect: float = 0.4
    message_before_connect: float = 0.2
    messages_per_connection: float = 1.0
    likes_per_connection: float = 0.4
    follows_per_connection: float = 0.05
    views_per_connection: float = 0.3
    block_rate: float = 0.003
    disconnect_rate: float = 0.01

    def __post_init__(self) -> None:
        _check(self.users >= 2, f"users must be at least 2, got {self.users}")
        _check(self.users < 2**31 - 1, "users must fit int32 ids")
        _check(self.avg_degree > 0, f"avg_degree must be positive, got {self.avg_degree}")
        _check(0 < self.days <= 36_500, f"days must be in (0, 36500], got {self.days}")
        _check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        _check(0 <= self.start_ts < 4_000_000_000 - self.days * DAY, "start_ts out of range")
        m = self.target_connections
        _check(m >= 1, f"connections must be at least 1, got {m}")
        # Sampling with rejection needs room: a graph denser than a fifth of all pairs is not social.
        limit = self.users * (self.users - 1) // 10
        _check(m <= limit, f"{m} connections is too dense for {self.users} users (at most {limit})")
        for name in ("initial_share", "delete_share", "p_fof", "p_community", "pa_share"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}")
        _check(self.p_fof + self.p_community <= 1.0, "p_fof + p_community must be at most 1")
        for name in ("view_before_connect", "message_before_connect"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}")
        for name in (
            "growth",
            "activity_sigma",
            "newcomer_boost",
            "newcomer_days",
            "messages_per_connection",
            "likes_per_connection",
            "follows_per_connection",
            "views_per_connection",
            "block_rate",
            "disconnect_rate",
        ):
            value = getattr(self, name)
            _check(value >= 0.0, f"{name} must not be negative, got {value}")
        _check(len(self.kinds) >= 1, "at least one community kind is needed")
        for kind in self.kinds:
            _check(kind.mean_size >= 2 and kind.weight >= 0, f"bad community kind {kind}")

    @property
    def target_connections(self) -> int:
        """Connections to produce: ``connections`` or ``round(users * avg_degree / 2)``."""
        if self.connections is not None:
            return self.connections
        return round(self.users * self.avg_degree / 2)

    @property
    def end_ts(self) -> int:
        """First second after the simulated span."""
        return self.start_ts + int(self.days * DAY)

    def fingerprint(self) -> str:
        """Eight hex digits naming this exact configuration; prefixes event ids so runs never collide."""
        text = repr(sorted(asdict(self).items()))
        return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidInput(message)
