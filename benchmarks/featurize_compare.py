"""Benchmark: featurization of a batch of query users, the dense code of an earlier commit against today's.

    .venv/bin/python benchmarks/featurize_compare.py [--datasets sx-askubuntu,sim-20k,ego-Facebook]
        [--old-ref e969843] [--batch 128] [--rounds 2] [--json benchmarks/out/featurize_compare.json]

For each data set (its DESIGN §4 train part, snapshot at the end of train), the same query users are
featurized — neighbourhood blocks, candidates, pair features: ``PairScorer.blocks`` →
``CandidateGenerator.generate`` → ``pair_features`` — by the two versions in one process, alternated
``--rounds`` times over two batches (old, new, old, new, ...), so machine noise hits both alike. The old
version's ``features/pairs.py`` and ``candidates/sources.py`` are read from git (``--old-ref``, default
the last commit with dense ``(batch, n_users)`` blocks and exact PPR) into a temporary directory and
imported beside today's package (everything else they import is today's). Prints and writes the
milliseconds per batch, the ratio old/new and the candidate counts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_quality import datasets, ensure_simulation, test_split  # noqa: E402
from pymk.candidates import sources as new_sources  # noqa: E402
from pymk.features import pairs as new_pairs  # noqa: E402
from pymk.features.rows import Rows  # noqa: E402
from pymk.features.snapshot import build_snapshot  # noqa: E402
from pymk.io.formats import Format  # noqa: E402

HERE = Path(__file__).resolve().parent


def load_old(ref: str, directory: Path) -> tuple[ModuleType, ModuleType]:
    """The ``pairs`` and ``sources`` modules of git ``ref`` as ``old_pairs`` / ``old_sources``."""

    def module(name: str, path: str, patch: tuple[str, str] | None = None) -> ModuleType:
        text = subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=HERE.parent, check=True, capture_output=True, text=True
        ).stdout
        if patch is not None:
            text = text.replace(*patch)
        file = directory / f"{name}.py"
        file.write_text(text)
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    pairs = module("old_pairs", "src/pymk/features/pairs.py")
    sources = module(
        "old_sources",
        "src/pymk/candidates/sources.py",
        ("from pymk.features.pairs import", "from old_pairs import"),
    )
    return pairs, sources


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", default="sx-askubuntu,sim-20k,ego-Facebook")
    parser.add_argument("--old-ref", default="e969843")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=HERE / "out" / "featurize_compare.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"old_ref": args.old_ref, "batch": args.batch, "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        old_pairs, old_sources = load_old(args.old_ref, Path(tmp))
        for name in args.datasets.split(","):
            path, fmt = datasets()[name]
            if fmt is Format.EVENTS_JSONL:
                ensure_simulation(path)
            split = test_split(path, fmt)
            rows = Rows.from_split(split)
            snap = build_snapshot(rows, rows.end_time())
            old = old_pairs.PairScorer(snap, ppr_iterations=10, embedding_dim=32)
            new = new_pairs.PairScorer(snap, ppr_iterations=10, embedding_dim=32)
            old_gen, new_gen = old_sources.CandidateGenerator(snap), new_sources.CandidateGenerator(snap)
            batches = [
                split.query_users[i * args.batch : (i + 1) * args.batch].astype(np.int64) for i in (0, 1)
            ]
            runs: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                for users in batches:
                    start = time.perf_counter()
                    ob = old.blocks(users)
                    r0, c0 = old_gen.generate(users, ob)
                    old_pairs.pair_features(snap, users, ob, r0, c0)
                    mid = time.perf_counter()
                    nb = new.blocks(users)
                    r1, c1 = new_gen.generate(users, nb)
                    new_pairs.pair_features(new, nb, r1, c1)
                    end = time.perf_counter()
                    run = {
                        "old_ms": round(1e3 * (mid - start), 1),
                        "new_ms": round(1e3 * (end - mid), 1),
                        "old_candidates": int(r0.shape[0]),
                        "new_candidates": int(r1.shape[0]),
                    }
                    run["ratio"] = round(run["old_ms"] / max(run["new_ms"], 1e-9), 2)
                    runs.append(run)
                    print(
                        f"{name:<13} old {run['old_ms']:>8.0f} ms  new {run['new_ms']:>8.0f} ms  "
                        f"ratio {run['ratio']:.2f}  "
                        f"candidates {run['old_candidates']} / {run['new_candidates']}",
                        flush=True,
                    )
            results[name] = {
                "users": snap.n_users,
                "runs": runs,
                "median_ratio": float(np.median([r["ratio"] for r in runs])),
            }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
