"""The event model of DESIGN §2: one typed, validated event.

Times are UNIX seconds (float, UTC). User ids are opaque strings; they become dense ints only inside the
graph and feature stores (see :mod:`pymk.events.ids`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event type pymk accepts."""

    SIGNUP = "signup"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    PROFILE_VIEW = "profile_view"
    LIKE = "like"
    MESSAGE = "message"
    BLOCK = "block"
    UNBLOCK = "unblock"
    IMPRESSION = "impression"
    CLICK = "click"
    DELETE_USER = "delete_user"


#: Types that concern a single user and must not carry a target.
UNARY_TYPES: frozenset[EventType] = frozenset({EventType.SIGNUP, EventType.DELETE_USER})

#: Types whose pair counts as an *interaction* between two users (DESIGN §3): the first interaction of an
#: unordered pair is that pair's connection when a data set carries no explicit connects.
INTERACTION_TYPES: frozenset[EventType] = frozenset(
    {EventType.CONNECT, EventType.FOLLOW, EventType.MESSAGE, EventType.LIKE}
)


@dataclass(frozen=True, slots=True)
class Event:
    """One validated event.

    ``target`` is ``None`` exactly for :data:`UNARY_TYPES`; ``actor != target`` always.
    """

    event_id: str
    ts: float
    type: EventType
    actor: str
    target: str | None
    props: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the DESIGN §2 shape with ``ts`` as UNIX seconds."""
        return {
            "event_id": self.event_id,
            "ts": self.ts,
            "type": self.type.value,
            "actor": self.actor,
            "target": self.target,
            "props": self.props,
        }


#: Feedback on a served recommendation list: ``actor`` = the viewer, ``target`` = the recommended user.
FEEDBACK_TYPES: frozenset[EventType] = frozenset({EventType.IMPRESSION, EventType.CLICK})

#: The attribution props of a feedback event and their JSON types. ``request_id``, ``model_version`` and
#: ``source`` are copied from the list the client showed (the ``request_id`` of the response, its
#: ``model_version`` and ``source``); ``position`` is the item's 0-based index in that list (optional).
#: A feedback event without any of them is valid and *unattributed*; with some, the first three are
#: required (see :func:`pymk.events.validation.validate_event`).
ATTRIBUTION_PROPS: dict[str, type] = {"request_id": str, "model_version": str, "source": str, "position": int}
ATTRIBUTION_REQUIRED: tuple[str, ...] = ("request_id", "model_version", "source")


@dataclass(frozen=True, slots=True)
class Attribution:
    """Which served list a feedback event is about (the props of :data:`ATTRIBUTION_PROPS`)."""

    request_id: str
    model_version: str
    source: str
    position: int | None = None

    @classmethod
    def of(cls, event: Event) -> Attribution | None:
        """The attribution of a validated ``event``, or None (not feedback, or unattributed)."""
        p = event.props
        if event.type not in FEEDBACK_TYPES or "request_id" not in p:
            return None
        return cls(p["request_id"], p["model_version"], p["source"], p.get("position"))
