"""Interaction rows on dense user indices, and what "as of time t" means for them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pymk.evaluation.protocol import Split


@dataclass(frozen=True)
class Rows:
    """Interaction rows on user indices ``0..n_users-1``.

    ``src``/``dst``: int32 ``(m,)`` (direction kept: ``src`` acted on ``dst``); ``ts``: float64 ``(m,)``
    UNIX seconds, or NaN. The data are *timed* when every row has a finite ``ts``; otherwise (snap-static)
    the order key is the row position, so "as of t" means "the rows at positions < t".
    Nothing here depends on the order of rows except that untimed clock.
    """

    src: np.ndarray
    dst: np.ndarray
    ts: np.ndarray
    n_users: int

    @classmethod
    def from_split(cls, split: Split) -> Rows:
        """The train rows of ``split`` (time order, as the split keeps them)."""
        return cls(split.train_src, split.train_dst, split.train_ts, split.n_users)

    def __len__(self) -> int:
        return int(self.src.shape[0])

    @property
    def timed(self) -> bool:
        """True when every row carries a finite time."""
        return len(self) > 0 and bool(np.isfinite(self.ts).all())

    @property
    def clock(self) -> np.ndarray:
        """float64 ``(m,)``: ``ts`` when timed, else the row position ``0..m-1``."""
        if self.timed:
            return self.ts
        return np.arange(len(self), dtype=np.float64)

    def permuted(self, seed: int) -> Rows:
        """The same rows in the order of ``numpy.random.default_rng(seed).permutation`` (for untimed rows,
        whose clock is the position, a fresh random "history"; timed rows keep their times)."""
        order = np.random.default_rng(seed).permutation(len(self))
        return Rows(self.src[order], self.dst[order], self.ts[order], self.n_users)

    def quantile_time(self, q: float) -> float:
        """The clock value at sorted position ``int(q * m)``: a cut keeping about ``q`` of the rows."""
        clock = np.sort(self.clock)
        return float(clock[min(int(q * len(self)), len(self) - 1)])

    def end_time(self) -> float:
        """The smallest clock value strictly after every row: "as of the end of the rows"."""
        return float(np.nextafter(self.clock.max(), np.inf))

    def before(self, t: float) -> Rows:
        """The rows with ``clock < t`` (same users), in their order."""
        keep = self.clock < t
        return Rows(self.src[keep], self.dst[keep], self.ts[keep], self.n_users)

    def between(self, t0: float, t1: float) -> np.ndarray:
        """bool ``(m,)``: rows with ``t0 <= clock < t1``."""
        clock = self.clock
        mask: np.ndarray = (clock >= t0) & (clock < t1)
        return mask
