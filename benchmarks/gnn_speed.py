"""Benchmark: LightGCN embedding training speed per epoch, and embedding-only recall@20 (§4 split).

    .venv/bin/python benchmarks/gnn_speed.py [--datasets CollegeMsg,sx-askubuntu-a2q] [--budget 60]
        [--epochs 20] [--devices cpu,cuda] [--out JSON]

Trains :func:`pymk.embeddings.fit_embeddings` on each dataset's §4 train graph (unique train pairs), on
every listed device that exists (CUDA is skipped when absent, so a GPU machine runs this unchanged), and
prints seconds per epoch and in total. Training stops at ``--epochs`` or after ``--budget`` seconds. It
then ranks all train users for each query user by embedding dot product (self and train neighbours
masked, §4 tie order) and reports recall@k / ndcg@k, next to the known untuned LightGCN figure on
CollegeMsg (recall@20 0.08). Results are merged per dataset and device into ``benchmarks/out/gnn_speed.json``.
CPU threads: ``--threads`` (default 1). On the shared 2-core machine, with another process busy, 2 torch
threads ran CollegeMsg batches ~50x slower than 1 (OpenMP threads spinning for a core); pass 2 when idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _data import eval_data_dir
from pymk.embeddings import EmbeddingConfig, EpochStats, fit_embeddings, similarity
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import MetricSums, Ranker
from pymk.evaluation.protocol import Split, load_interactions, split_interactions
from pymk.io.formats import Format

HERE = Path(__file__).resolve().parent
DATA = eval_data_dir()
DATASETS = {
    "CollegeMsg": (DATA / "CollegeMsg" / "CollegeMsg.txt", Format.SNAP_TEMPORAL),
    "sx-askubuntu-a2q": (DATA / "sx-askubuntu-a2q" / "sx-askubuntu-a2q.txt.gz", Format.SNAP_TEMPORAL),
}
KNOWN_RECALL_AT_20 = {"CollegeMsg": 0.08, "sx-askubuntu-a2q": 0.04}  # issue 3: PyG LightGCN, untuned
KS = (10, 20, 50)


def embedding_metrics(split: Split, emb: np.ndarray, batch: int = 512) -> dict[str, float]:
    """recall@k / ndcg@k of ranking all train users by dot product, over ``split.query_users``."""
    ranker = Ranker(TrainGraph.from_split(split))
    sums = MetricSums(split, KS)
    everyone = np.arange(split.n_users)
    for lo in range(0, split.query_users.shape[0], batch):
        users = split.query_users[lo : lo + batch]
        scores = np.ascontiguousarray(similarity(emb, users, everyone))
        ranker.mask(users, scores)
        sums.add(users, ranker.top_k(scores, max(KS)))
    return sums.means()


def run(name: str, device: str, config: EmbeddingConfig) -> dict[str, Any]:
    path, fmt = DATASETS[name]
    t0 = time.perf_counter()
    split = split_interactions(load_interactions(path, fmt))
    load_s = time.perf_counter() - t0
    epochs: list[EpochStats] = []

    def report(stats: EpochStats) -> None:
        epochs.append(stats)
        print(
            f"  {name} {device} epoch {stats.epoch}: loss {stats.loss:.4f}, {stats.seconds:.2f} s", flush=True
        )

    t0 = time.perf_counter()
    emb = fit_embeddings(split.pair_u, split.pair_v, split.n_users, config, report, device=device)
    fit_s = time.perf_counter() - t0
    full = [e.seconds for e in epochs if not e.cut_short]
    t0 = time.perf_counter()
    metrics = embedding_metrics(split, emb)
    score_s = time.perf_counter() - t0
    row = {
        "dataset": name,
        "device": device,
        "n_users": split.n_users,
        "train_pairs": int(split.pair_u.shape[0]),
        "query_users": int(split.query_users.shape[0]),
        "load_split_s": round(load_s, 2),
        "fit_s": round(fit_s, 2),
        "epochs_run": len(epochs),
        "full_epochs": len(full),
        "s_per_epoch": round(float(np.mean(full)), 3) if full else None,
        "batch_s": round(sum(e.seconds for e in epochs) / max(sum(e.batches for e in epochs), 1), 4),
        "score_s": round(score_s, 2),
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
        "known_lightgcn_recall@20": KNOWN_RECALL_AT_20.get(name),
        "config": asdict(config),
    }
    print(
        f"{name} [{device}]: {row['s_per_epoch']} s/epoch, {len(epochs)} epochs, fit {fit_s:.1f} s, "
        f"recall@20 {metrics['recall@20']:.4f} (known LightGCN {row['known_lightgcn_recall@20']})",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per dataset and device")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=EmbeddingConfig.batch_size)
    parser.add_argument("--lr", type=float, default=EmbeddingConfig.lr)
    parser.add_argument("--hard-share", type=float, default=EmbeddingConfig.hard_negative_share)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "gnn_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = EmbeddingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        hard_negative_share=args.hard_share,
        time_budget_s=args.budget,
    )
    result: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs: dict[str, Any] = result.setdefault("runs", {})
    for name in args.datasets.split(","):
        if not DATASETS[name][0].exists():
            print(f"{DATASETS[name][0]} not found; skipping {name}")
            continue
        for device in args.devices.split(","):
            if device == "cuda" and not torch.cuda.is_available():
                print(f"{name}: CUDA not available; skipping")
                continue
            runs[f"{name}/{device}"] = run(name, device, config)
    result["machine"] = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
