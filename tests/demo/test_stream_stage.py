"""The demo's stream stage reports the showcase connect whether or not the rest of the live day left the
friend in the user's top k (it crashed when it did not)."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from pymk.cli import demo_live
from pymk.cli.demo_live import Showcase, stream_stage

pytestmark = pytest.mark.unit


class FakeStack:
    """Just what ``stream_stage`` uses: posting applies at once; lists come from ``self.lists``."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.lists = lists
        self.consumed = 0
        self.worker = SimpleNamespace(poll_s=0.05)
        self.follower = SimpleNamespace(interval_s=0.05)

    def post_events(self, events: list[dict[str, Any]]) -> dict[str, int]:
        for e in events:
            if e["type"] == "connect":
                a, b = e["actor"], e["target"]
                self.lists[a] = [u for u in self.lists.get(a, []) if u != b]
                self.lists[b] = [u for u in self.lists.get(b, []) if u != a]
        self.consumed += len(events)
        return {"accepted": len(events), "rejected": 0}

    def wait_for(self, condition: Any, timeout_s: float) -> float:
        assert condition()
        return 0.001

    def items(self, user: str, k: int) -> list[str]:
        return self.lists.get(user, [])[:k]

    def recommendations(self, user: str, k: int) -> dict[str, Any]:
        items = [{"user_id": u, "score": 1.0, "reasons": {}} for u in self.items(user, k)]
        return {"user_id": user, "model_version": "v1", "source": "precomputed", "items": items}


@pytest.mark.parametrize("listed", [True, False])
def test_the_showcase_connect_is_reported_whether_or_not_the_friend_is_still_listed(
    listed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = io.StringIO()
    monkeypatch.setattr(demo_live, "console", Console(file=said, width=200))
    monkeypatch.setattr(demo_live, "out", Console(file=io.StringIO(), width=200))
    stack = FakeStack({"a": ["b", "c", "d"] if listed else ["c", "d"], "b": ["a", "e"]})
    other = {"event_id": "x", "ts": 1.0, "type": "connect", "actor": "d", "target": "e"}
    result = stream_stage(stack, [other], Showcase("a", "b", True), now=2.0)  # type: ignore[arg-type]
    assert result["connect"] == {"actor": "a", "target": "b", "from_stream": True}
    assert "b" not in stack.items("a", demo_live.K) and "a" not in stack.items("b", demo_live.K)
    assert result["gone"] == (["b"] if listed else [])
    text = said.getvalue()
    assert ("b was #1 in a's list" in text) if listed else ("b was no longer in a's top 10" in text)
