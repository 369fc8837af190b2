"""``first_unseen``: the flags every ``SeenEvents.filter_new`` returns."""

from __future__ import annotations

import pytest

from pymk.events.dedupe import first_unseen

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("ids", "seen", "flags"),
    [
        ([], set(), []),
        (["a", "b"], set(), [True, True]),
        (["a", "b"], {"b"}, [True, False]),
        (["a", "a", "b"], set(), [True, False, True]),
        (["a", "a", "b", "b"], {"a"}, [False, False, True, False]),
    ],
)
def test_first_unseen(ids: list[str], seen: set[str], flags: list[bool]) -> None:
    assert first_unseen(ids, seen) == flags
