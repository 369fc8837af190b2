"""Issue 5 "Done when", for real: `pymk serve` and `pymk worker` as processes on one Redis, a connect
``XADD``-ed to the stream, and within 1 s both users' next recommendations stop listing each other and
one of B's friends (not A's) appears in A's.

The stack is :mod:`_freshness` (``benchmarks/``), the same one ``benchmarks/freshness_e2e.py`` times over
hundreds of events.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from _freshness import Stack, build_home, friends, get_items, mutual_pairs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]


def test_a_streamed_connect_reaches_both_users_within_a_second(tmp_path: Path, redis_url: str) -> None:
    home = build_home(tmp_path)
    pairs = mutual_pairs(home)
    assert len(pairs) >= 3, "the simulated lists should hold users listed in each other's lists"
    stack = Stack(home, redis_url=redis_url).start()
    try:
        (a, b), (c, d) = pairs[0], pairs[-1]
        assert b in get_items(stack.base, a) and a in get_items(stack.base, b)
        # B's friends that are not A's and not in A's list yet: one of them must reach A's list.
        graph = friends(home)
        new_for_a = graph.get(b, set()) - graph.get(a, set()) - {a} - set(get_items(stack.base, a))
        assert new_for_a, "B should have friends A neither has nor is shown"
        seconds = stack.connect_and_wait(a, b, new_for_a=new_for_a)
        assert seconds <= 1.0, f"connect visible after {seconds:.3f} s\n{stack.output()}"
        assert new_for_a & set(get_items(stack.base, a))
        # The others are untouched, and the change holds (it is not a one-off filter).
        assert d in get_items(stack.base, c) and c in get_items(stack.base, d)
        time.sleep(0.2)
        assert b not in get_items(stack.base, a) and a not in get_items(stack.base, b)
        # A block takes effect as fast; a deletion purges the user from every list.
        (e, f) = pairs[len(pairs) // 2]
        started = time.perf_counter()
        stack.xadd({"event_id": "blk-1", "ts": time.time(), "type": "block", "actor": e, "target": f})
        while f in get_items(stack.base, e) or e in get_items(stack.base, f):
            assert time.perf_counter() - started < 1.0, f"block not visible in 1 s\n{stack.output()}"
            time.sleep(0.005)
        started = time.perf_counter()
        stack.xadd(
            {"event_id": "del-1", "ts": time.time(), "type": "delete_user", "actor": d, "target": None}
        )
        while get_items(stack.base, d) or d in get_items(stack.base, c):
            assert time.perf_counter() - started < 1.0, f"delete not visible in 1 s\n{stack.output()}"
            time.sleep(0.005)
        # Events posted over HTTP take the same path: the server publishes them, the worker applies them.
        # A user first seen there gets a cold-start list (not a 404), without whom it connected to.
        assert get_items(stack.base, "newcomer") == []
        posted = [
            {"event_id": "http-1", "ts": time.time(), "type": "connect", "actor": "newcomer", "target": a}
        ]
        request = urllib.request.Request(f"{stack.base}/v1/events", data=json.dumps(posted).encode())
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202 and json.loads(response.read())["accepted"] == 1
        started = time.perf_counter()
        while not (cold := get_items(stack.base, "newcomer", 10)):
            assert time.perf_counter() - started < 1.0, f"no cold-start list in 1 s\n{stack.output()}"
            time.sleep(0.005)
        assert len(cold) == 10 and a not in cold and "newcomer" not in cold
    finally:
        stack.close()
