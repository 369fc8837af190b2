"""Benchmark: featurization of query users with the C kernels against the SciPy path, in one process.

    .venv/bin/python benchmarks/native_kernels.py [--datasets sx-askubuntu,sim-20k,ego-Facebook]
        [--batches 8,128] [--rounds 5] [--json benchmarks/out/native_kernels.json]

For each data set (its DESIGN §4 train part, snapshot at the end of train) the same query users are
featurized — ``PairScorer.blocks`` → ``CandidateGenerator.generate`` → ``pair_features``, what every
scoring path runs — by a scorer built with ``PYMK_NATIVE=0`` (SciPy sparse products and NumPy) and one
built with the C kernels of :mod:`pymk.features.native`, alternated ``--rounds`` times (scipy, native,
scipy, ...) so machine noise hits both alike. Both must produce the same candidate pairs (checked). Prints
and writes CPU milliseconds per query user (``time.process_time``; one thread) per batch size, the
medians and the ratio scipy/native.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_quality import dataset_file, test_split  # noqa: E402
from pymk.candidates.sources import CandidateGenerator  # noqa: E402
from pymk.evaluation.protocol import Split  # noqa: E402
from pymk.features.pairs import PairScorer, pair_features  # noqa: E402
from pymk.features.rows import Rows  # noqa: E402
from pymk.features.snapshot import Snapshot, build_snapshot  # noqa: E402

HERE = Path(__file__).resolve().parent


@contextmanager
def native(on: bool) -> Iterator[None]:
    """``PYMK_NATIVE`` set for the block (scorers choose at construction, lookups at each call)."""
    before = os.environ.get("PYMK_NATIVE")
    os.environ["PYMK_NATIVE"] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYMK_NATIVE"]
        else:
            os.environ["PYMK_NATIVE"] = before


def featurize(
    scorer: PairScorer, generator: CandidateGenerator, users: np.ndarray
) -> tuple[float, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """CPU seconds of one batch, its candidate pairs and their feature rows."""
    start = time.process_time()
    blocks = scorer.blocks(users)
    rows, cols = generator.generate(users, blocks)
    features = pair_features(scorer, blocks, rows, cols)
    return time.process_time() - start, (rows, cols), features


def end_of_train(name: str) -> tuple[Split, Snapshot]:
    """Data set ``name``'s §4 split (the simulator's stream generated first) and the snapshot at the end
    of its train part."""
    found = dataset_file(name)
    if found is None:
        raise SystemExit(f"{name}: its data file is not here")
    split = test_split(*found)
    rows = Rows.from_split(split)
    return split, build_snapshot(rows, rows.end_time())


def arms(snap: Snapshot) -> dict[str, tuple[PairScorer, CandidateGenerator]]:
    out = {}
    for name, on in (("scipy", False), ("native", True)):
        with native(on):
            scorer = PairScorer(snap, ppr_iterations=10, embedding_dim=32)
            out[name] = (scorer, CandidateGenerator(snap, kernels=scorer.native))
    return out


def write_results(results: dict[str, Any], path: Path) -> None:
    """Add the load average at the end to ``results`` and write them to ``path`` as JSON."""
    results["load_average_end"] = os.getloadavg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", default="sx-askubuntu,sim-20k,ego-Facebook")
    parser.add_argument("--batches", default="8,128")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=HERE / "out" / "native_kernels.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average_start": os.getloadavg()}
    for name in args.datasets.split(","):
        split, snap = end_of_train(name)
        both = arms(snap)
        assert both["native"][0].native is not None, "the C kernels are not built: pip install -e ."
        results[name] = {"users": snap.n_users}
        for size in (int(b) for b in args.batches.split(",")):
            ms: dict[str, list[float]] = {"scipy": [], "native": []}
            for r in range(args.rounds):
                users = split.query_users[r * size : (r + 1) * size].astype(np.int64)
                pairs = {}
                for arm, (scorer, generator) in both.items():
                    with native(arm == "native"):
                        seconds, pairs[arm], _ = featurize(scorer, generator, users)
                    ms[arm].append(1e3 * seconds / users.shape[0])
                for a, b in zip(pairs["scipy"], pairs["native"], strict=True):
                    np.testing.assert_array_equal(a, b)
            med = {arm: float(np.median(v)) for arm, v in ms.items()}
            ratio = med["scipy"] / max(med["native"], 1e-9)
            results[name][f"batch_{size}"] = {
                "ms_per_user": {arm: [round(x, 3) for x in v] for arm, v in ms.items()},
                "median_ms_per_user": {arm: round(x, 3) for arm, x in med.items()},
                "ratio": round(ratio, 2),
            }
            print(
                f"{name:<13} batch {size:>4}: scipy {med['scipy']:7.3f} ms/user  native "
                f"{med['native']:7.3f} ms/user  ratio {ratio:5.2f}  (medians of {args.rounds})",
                flush=True,
            )
    write_results(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
