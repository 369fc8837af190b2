"""Real-time micro-batching: requests waiting together share one model call, each gets exactly its rows."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pymk.serving.batcher import RealtimeBatcher
from pymk.serving.recommender import TopK

pytestmark = pytest.mark.unit

NAMES = ("mutual_connections",)


class Slow:
    """A recommender whose first call waits for ``gate``; item ``j`` of user ``u`` is ``100 u + j``."""

    reason_names = NAMES
    model_version = "v1"

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.calls: list[np.ndarray] = []

    def recommend(self, users: np.ndarray, k: int) -> TopK:
        self.calls.append(users.copy())
        if self.gate is not None and len(self.calls) == 1:
            self.gate.wait(5)
        b = users.shape[0]
        items = (100 * users[:, None] + np.arange(k)).astype(np.int32)
        scores = np.tile(1.0 - 0.01 * np.arange(k, dtype=np.float32), (b, 1))
        reasons = np.repeat(items[:, :, None].astype(np.float32), len(NAMES), axis=2)
        return TopK(items, scores, reasons, NAMES)


def test_requests_waiting_together_share_one_call_and_get_their_own_rows() -> None:
    gate = threading.Event()
    model = Slow(gate)
    batcher = RealtimeBatcher(max_users=10)
    try:
        first = batcher.submit(model, np.array([1]), 5)
        while not model.calls:  # the worker is busy with the first request
            threading.Event().wait(0.001)
        waiting = [(np.array([u, u + 1]), w) for u, w in ((10, 3), (20, 7), (30, 5))]
        futures = [batcher.submit(model, users, w) for users, w in waiting]
        gate.set()
        assert first is not None and all(f is not None for f in futures)
        assert first.result(5).items.tolist() == [[100 + j for j in range(5)]]
        for (users, w), future in zip(waiting, futures, strict=True):
            assert future is not None
            got = future.result(5)
            want = Slow().recommend(users, w)
            assert got.k == w
            np.testing.assert_array_equal(got.items, want.items)
            np.testing.assert_array_equal(got.scores, want.scores)
            np.testing.assert_array_equal(got.reasons, want.reasons)
        assert len(model.calls) == 2, "the three waiting requests were scored in one call"
        assert model.calls[1].tolist() == [10, 11, 20, 21, 30, 31]
        assert (batcher.calls, batcher.users) == (2, 7)
    finally:
        gate.set()
        batcher.close()


def test_batches_respect_max_users_and_never_mix_recommenders() -> None:
    gate = threading.Event()
    a, b = Slow(gate), Slow()
    batcher = RealtimeBatcher(max_users=3)
    try:
        batcher.submit(a, np.array([0]), 2)
        while not a.calls:
            threading.Event().wait(0.001)
        futures = [batcher.submit(m, np.array([u]), 2) for m, u in ((a, 1), (b, 2), (a, 3), (a, 4), (a, 5))]
        gate.set()
        for future in futures:
            assert future is not None
            future.result(5)
        assert [c.tolist() for c in a.calls] == [[0], [1, 3, 4], [5]]
        assert [c.tolist() for c in b.calls] == [[2]]
    finally:
        gate.set()
        batcher.close()


def test_a_full_queue_refuses_and_errors_reach_every_waiting_request() -> None:
    gate = threading.Event()
    model = Slow(gate)
    batcher = RealtimeBatcher(max_users=4, max_pending=3)
    try:
        batcher.submit(model, np.array([0]), 2)
        while not model.calls:
            threading.Event().wait(0.001)
        assert batcher.submit(model, np.array([1, 2]), 2) is not None
        assert batcher.submit(model, np.array([3, 4]), 2) is None, "3 users may wait, not 4"
        gate.set()
    finally:
        batcher.close()

    class Broken(Slow):
        def recommend(self, users: np.ndarray, k: int) -> TopK:
            raise RuntimeError("model failed")

    batcher = RealtimeBatcher()
    try:
        future = batcher.submit(Broken(), np.array([1]), 2)
        assert future is not None
        with pytest.raises(RuntimeError, match="model failed"):
            future.result(5)
    finally:
        batcher.close()
    assert batcher.submit(Slow(), np.array([1]), 2) is None, "a closed batcher takes nothing"


def test_a_request_cancelled_while_it_waits_is_dropped_and_the_worker_lives_on() -> None:
    # An HTTP request awaits its future through asyncio.wrap_future; a client that leaves cancels it.
    # Setting a result on a cancelled future raises, so the worker must skip it, not die.
    gate = threading.Event()
    model = Slow(gate)
    batcher = RealtimeBatcher(max_users=10)
    try:
        first = batcher.submit(model, np.array([1]), 3)
        while not model.calls:
            threading.Event().wait(0.001)
        gone = batcher.submit(model, np.array([2]), 3)
        kept = batcher.submit(model, np.array([3]), 3)
        assert first is not None and gone is not None and kept is not None
        assert gone.cancel()
        gate.set()
        assert kept.result(5).items.tolist() == [[300, 301, 302]]
        assert gone.cancelled() and model.calls[1].tolist() == [3], "the cancelled user was not scored"
        later = batcher.submit(model, np.array([4]), 2)
        assert later is not None and later.result(5).items.tolist() == [[400, 401]]
        assert not kept.cancel(), "a request being scored can no longer be cancelled"
    finally:
        gate.set()
        batcher.close()
