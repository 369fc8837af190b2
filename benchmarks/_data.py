"""Where the shared public data sets live: ``$PYMK_EVAL_DATA``, else ``../shared/eval-data`` next to the
checkout, else ``/work/shared/eval-data``. Benchmarks and tests read them; the product never does."""

from __future__ import annotations

import os
from pathlib import Path


def eval_data_dir() -> Path:
    """The first existing candidate directory (or the last candidate, so error messages name a path)."""
    candidates = [Path(p) for p in [os.environ.get("PYMK_EVAL_DATA", "")] if p]
    candidates += [
        Path(__file__).resolve().parents[2] / "shared" / "eval-data",
        Path("/work/shared/eval-data"),
    ]
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[-1]
