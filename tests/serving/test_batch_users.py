"""`pymk batch --users FILE`: precompute a chosen subset of users (what benchmarks/scaling.py times at 1M).

The subset's lists must be exactly the lists a full run writes for those users, the snapshot must hold
no other user's list, and a bad file is one clear CLI error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from _tiny import TINY_PIPELINE as TINY
from pymk.cli import app
from pymk.config import Settings, load_settings
from pymk.io.importer import import_file
from pymk.models.bundle import config_from_dict, load_bundle
from pymk.registry import open_registry
from pymk.serving.lists_mmap import MmapListStore
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.training.tracking import MemoryTracker
from pymk.training.train import train_home

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    root = tmp_path_factory.mktemp("batch-users")
    events = root / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=200, days=40, seed=3)), events)
    settings = load_settings(home=root / "home", tracking_url="memory://")
    import_file(events, "events-jsonl", settings)
    result = train_home(settings, config=config_from_dict(TINY), tracker=MemoryTracker())
    assert result.promoted
    ids = load_bundle(open_registry(settings).get(result.version).path).user_ids
    assert ids is not None
    return settings, ids


def _batch(settings: Settings, *extra: str) -> tuple[int, str]:
    args = ["batch", "--home", str(settings.home), "--k", "20", "--workers", "1", *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())


def _lists(settings: Settings, users: list[str]) -> dict[str, list[str] | None]:
    store = MmapListStore(settings.home / "lists")
    try:
        out: dict[str, list[str] | None] = {}
        for uid in users:
            found = store.get(uid, 20)
            out[uid] = None if found is None else [d["user_id"] for d in found.item_dicts()]
        return out
    finally:
        store.close()


def test_subset_lists_equal_the_full_run_and_nothing_else(
    trained: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, ids = trained
    code, said = _batch(settings)
    assert code == 0, said
    full = _lists(settings, ids)
    chosen = [ids[7], ids[3], ids[150], ids[7]]  # a repeat counts once
    listing = tmp_path / "users.txt"
    listing.write_text("\n".join(chosen) + "\n\n")
    code, said = _batch(settings, "--users", str(listing))
    assert code == 0, said
    assert "precomputed 3 lists" in said
    subset = _lists(settings, ids)
    for uid in ids:
        if uid in chosen:
            assert subset[uid] is not None and subset[uid] == full[uid], uid
        else:
            assert subset[uid] is None, uid


def test_unknown_or_empty_users_file_is_one_clear_error(
    trained: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, ids = trained
    listing = tmp_path / "users.txt"
    listing.write_text(f"{ids[0]}\nno-such-user\n")
    code, said = _batch(settings, "--users", str(listing))
    assert code == 2 and "no-such-user" in said and "Traceback" not in said, said
    listing.write_text("\n \n")
    code, said = _batch(settings, "--users", str(listing))
    assert code == 2 and "lists no user id" in said, said
    code, said = _batch(settings, "--users", str(tmp_path / "missing.txt"))
    assert code == 2 and "missing.txt" in said, said
