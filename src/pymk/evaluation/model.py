"""What the evaluation harness needs from a model, and the name → factory registry the CLI uses.

Any object with ``fit`` and ``score`` plugs in (structural typing). The harness, not the model, removes
the query user and its train neighbours and breaks ties, so a model only has to score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np

from pymk.errors import InvalidInput
from pymk.evaluation.protocol import Split


class EvalModel(Protocol):
    """A link-prediction model under the DESIGN §4 protocol."""

    def fit(self, split: Split) -> None:
        """Learn from the train part of ``split`` only (``train_*``, ``pair_*``; never the truth)."""

    def score(self, users: np.ndarray) -> np.ndarray:
        """Scores of every train user as a candidate for each of ``users``.

        ``users``: int32 ``(b,)`` train indices (query users, one batch). Returns a fresh C-contiguous
        float32 array of shape ``(b, n_users)``, higher is better; the caller owns it and may modify it
        in place. Non-finite values are treated as the lowest possible score.
        """
        ...


ModelFactory = Callable[[], EvalModel]


class ModelRegistry:
    """Model factories by name, plus names that are planned but not yet available."""

    def __init__(self) -> None:
        self._factories: dict[str, ModelFactory] = {}
        self._planned: dict[str, str] = {}

    def register(self, name: str, factory: ModelFactory) -> None:
        """Make ``name`` available; replaces an earlier factory or a planned entry of that name."""
        self._factories[name] = factory
        self._planned.pop(name, None)

    def plan(self, name: str, what: str) -> None:
        """Announce ``name`` (described by ``what``) as coming, so asking for it gets a clear answer."""
        if name not in self._factories:
            self._planned[name] = what

    def names(self) -> list[str]:
        """Available model names, in registration order."""
        return list(self._factories)

    def create(self, name: str) -> EvalModel:
        """A new, unfitted model. Raises :class:`InvalidInput` naming the known models otherwise."""
        factory = self._factories.get(name)
        if factory is not None:
            return factory()
        known = ", ".join(self.names())
        if name in self._planned:
            raise InvalidInput(
                f"model {name!r} ({self._planned[name]}) is not available yet; available: {known}"
            )
        raise InvalidInput(f"unknown model {name!r}; available: {known}")

    def create_all(self, names: Iterable[str]) -> dict[str, EvalModel]:
        """``{name: model}`` for each of ``names`` (duplicates once), validating every name first."""
        unique = list(dict.fromkeys(names))
        for name in unique:
            if name not in self._factories:
                self.create(name)  # raises with the right message
        return {name: self.create(name) for name in unique}
