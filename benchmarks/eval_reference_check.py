"""Independent, deliberately naive re-implementation of the DESIGN §4 protocol and the six baselines.

Shares no code with pymk: its own file parsing, split, graph (dicts of sets), baselines (Python loops;
PPR as a dense NumPy power iteration in float64) and metrics (per-user loops). It runs ``pymk evaluate``
as a subprocess, reads its JSON and compares every baseline's recall@k / ndcg@k.

The tie rule is the one pymk documents: score descending, then train degree descending, then train
index descending (the rule that reproduces DESIGN §4's published CollegeMsg aa figure), where train
users are numbered by first appearance among the train rows in file order (src before dst). pymk's
``score`` contract is float32, so by default the reference rounds each exact (float64) score to float32
before ranking; ``--exact`` ranks on the float64 scores instead, to measure how much float32 ties matter.

    python benchmarks/eval_reference_check.py            # CollegeMsg and soc-sign-bitcoin-otc
    python benchmarks/eval_reference_check.py --exact
    python benchmarks/eval_reference_check.py --datasets ego-Facebook   # static data: shuffled split
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _data import eval_data_dir

DATA = eval_data_dir()
DATASETS = {
    "CollegeMsg": (DATA / "CollegeMsg" / "CollegeMsg.txt", "snap-temporal"),
    "soc-sign-bitcoin-otc": (DATA / "soc-sign-bitcoin-otc" / "soc-sign-bitcoinotc.csv.gz", "bitcoin-csv"),
    "ego-Facebook": (DATA / "ego-Facebook" / "facebook_combined.txt", "snap-static"),  # slow: opt in
}
MODELS = ["popularity", "recent", "cn", "aa", "ra", "ppr"]
KS = [10, 20, 50]


def read_rows(path: Path, fmt: str) -> list[tuple[str, str, float]]:
    """(src, dst, ts) per data line in file order; self-loops dropped; NaN ts for snap-static."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    rows = []
    for line in raw.decode("utf-8").splitlines():
        line = line.strip()
        if not line or line[0] in "#%":
            continue
        if fmt == "bitcoin-csv":
            parts = line.split(",")
            try:
                ts = float(parts[3])
            except ValueError:
                continue  # header line
        else:
            parts = line.split()
            ts = float(parts[2]) if fmt == "snap-temporal" else float("nan")
        if parts[0] != parts[1]:
            rows.append((parts[0], parts[1], ts))
    return rows


Graph = tuple[dict[str, int], list[set[int]], list[tuple[int, int, float]], dict[int, set[int]]]


def split(
    rows: list[tuple[str, str, float]], static: bool, test_fraction: float = 0.2, seed: int = 0
) -> Graph:
    n = len(rows)
    if static:
        order = [int(i) for i in np.random.default_rng(seed).permutation(n)]
    else:
        order = sorted(range(n), key=lambda i: rows[i][2])  # Python's sort is stable
    cut = int(n * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    index: dict[str, int] = {}
    for i in sorted(train):
        for user in rows[i][:2]:
            index.setdefault(user, len(index))
    nbrs: list[set[int]] = [set() for _ in index]
    train_rows = []
    for i in train:
        a, b = index[rows[i][0]], index[rows[i][1]]
        nbrs[a].add(b)
        nbrs[b].add(a)
        train_rows.append((a, b, rows[i][2]))
    truth: dict[int, set[int]] = {}
    for i in test:
        x, y = index.get(rows[i][0]), index.get(rows[i][1])
        if x is None or y is None or x == y or y in nbrs[x]:
            continue
        truth.setdefault(x, set()).add(y)
        truth.setdefault(y, set()).add(x)
    return index, nbrs, train_rows, truth


def vector_scores(name: str, nbrs: list[set[int]], train_rows: list[tuple[int, int, float]]) -> list[float]:
    n = len(nbrs)
    if name == "popularity":
        return [float(len(s)) for s in nbrs]
    times = [t for _, _, t in train_rows if not math.isnan(t)]
    lo = max(times) - 0.1 * (max(times) - min(times)) if times else None
    counts = [0.0] * n
    for a, b, t in train_rows:
        if lo is None or (not math.isnan(t) and t >= lo):
            counts[a] += 1
            counts[b] += 1
    return counts


def neighbourhood_scores(name: str, u: int, nbrs: list[set[int]]) -> dict[int, float]:
    terms: dict[int, list[float]] = {}
    for z in nbrs[u]:
        d = len(nbrs[z])
        w = 1.0 if name == "cn" else 1.0 / math.log(max(d, 2)) if name == "aa" else 1.0 / d
        for v in nbrs[z]:
            terms.setdefault(v, []).append(w)
    return {v: math.fsum(ws) for v, ws in terms.items()}  # exact sum: independent of order


def ppr_scores(nbrs: list[set[int]], users: list[int]) -> np.ndarray:
    n = len(nbrs)
    p = np.zeros((n, n))
    for i, s in enumerate(nbrs):
        for j in s:
            p[i, j] = 1.0 / len(s)
    e = np.zeros((len(users), n))
    e[np.arange(len(users)), users] = 1.0
    x = e.copy()
    for _ in range(30):
        x = 0.15 * e + 0.85 * (x @ p)
    return x


def metrics(ranked: list[int], truth: set[int]) -> dict[str, float]:
    out = {}
    for k in KS:
        hits = [1 if v in truth else 0 for v in ranked[:k]]
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(truth))))
        out[f"recall@{k}"] = sum(hits) / len(truth)
        out[f"ndcg@{k}"] = dcg / idcg
    return out


def reference(path: Path, fmt: str, exact: bool) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    index, nbrs, train_rows, truth = split(read_rows(path, fmt), static=fmt == "snap-static")
    n = len(index)
    deg = [len(s) for s in nbrs]
    query = sorted(truth)
    dataset = {
        "users": n,
        "train_pairs": sum(deg) // 2,
        "query_users": len(query),
        "truth_pairs": sum(len(t) for t in truth.values()),
    }
    ppr = ppr_scores(nbrs, query)

    def rounded(x: float) -> float:
        return x if exact else float(np.float32(x))

    results = {}
    for name in MODELS:
        vec = vector_scores(name, nbrs, train_rows) if name in ("popularity", "recent") else None
        sums = dict.fromkeys([f"{m}@{k}" for k in KS for m in ("recall", "ndcg")], 0.0)
        for qi, u in enumerate(query):
            if vec is not None:
                score = vec
            elif name == "ppr":
                score = ppr[qi].tolist()
            else:
                sparse = neighbourhood_scores(name, u, nbrs)
                score = [sparse.get(v, 0.0) for v in range(n)]
            cands = [v for v in range(n) if v != u and v not in nbrs[u]]
            cands.sort(key=lambda v: (-rounded(score[v]), -deg[v], -v))
            for key, value in metrics(cands[: max(KS)], truth[u]).items():
                sums[key] += value
        results[name] = {key: value / len(query) for key, value in sums.items()}
    return dataset, results


def run_pymk(path: Path, fmt: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-c",
            "from pymk.cli import main; main()",
            "evaluate",
            str(path),
            "--format",
            fmt,
        ]
        cmd += ["--k", ",".join(map(str, KS)), "--models", ",".join(MODELS), "--json", str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        result: dict[str, object] = json.loads(out.read_text())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exact", action="store_true", help="rank on float64 scores (no float32 rounding)")
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument(
        "--datasets", default="CollegeMsg,soc-sign-bitcoin-otc", help=f"of {', '.join(DATASETS)}"
    )
    args = parser.parse_args()
    worst = 0.0
    for label in args.datasets.split(","):
        path, fmt = DATASETS[label]
        if not path.exists():
            print(f"{label}: {path} missing, skipped")
            continue
        dataset, ref = reference(path, fmt, args.exact)
        got = run_pymk(path, fmt)
        print(f"{label}: dataset reference={dataset} pymk={got['dataset']} same={dataset == got['dataset']}")
        models = got["models"]
        assert isinstance(models, dict)
        for name in MODELS:
            diffs = {key: abs(models[name][key] - value) for key, value in ref[name].items()}
            worst = max(worst, *diffs.values(), 0.0 if dataset == got["dataset"] else math.inf)
            flag = "ok " if max(diffs.values()) <= args.tolerance else "DIFF"
            cells = " ".join(f"{key}={ref[name][key]:.6f}(Δ{diffs[key]:.1e})" for key in ref[name])
            print(f"  {flag} {name:<10} {cells}")
    print(f"max |pymk - reference| = {worst:.3e} (tolerance {args.tolerance:g})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    raise SystemExit(main())
