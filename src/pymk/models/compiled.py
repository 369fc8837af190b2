"""LightGBM boosters compiled to native code with lleaves (LLVM), for scoring.

Why: scoring is LightGBM prediction above all — 86 % of ``pymk batch``'s time on CollegeMsg (py-spy), and
most of the real-time path. lleaves compiles a booster's trees into straight-line machine code; on the
CollegeMsg model (4 bags × 179 trees, 45 features, 800 candidate rows) one booster predicted in 2.95 ms
against LightGBM's 18.8 ms, results equal to 5e-15 (``benchmarks/ranker_predict.py`` measures it).

Compiling costs ~10–30 s per booster, so it happens once, when a model version is saved, and the
object code is cached in the bundle under ``compiled/<host key>/``: the key names the CPU (name and
features) and the lleaves/llvmlite versions the code was generated for, so a bundle copied to another
kind of machine is never run with code built for a different CPU — it falls back to LightGBM there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

#: Sub-directory of a bundle holding the compiled boosters, one folder per :func:`host_key`.
COMPILED_DIR = "compiled"


class Forest(Protocol):
    """A compiled booster: ``predict`` gives what LightGBM's ``Booster.predict`` gives (objective applied)."""

    def predict(self, data: np.ndarray, n_jobs: int = ...) -> np.ndarray: ...


def available() -> bool:
    """Whether lleaves (and its LLVM) can be imported here."""
    try:
        import lleaves  # noqa: F401
    except Exception:  # ImportError, or llvmlite failing to load its shared library
        return False
    return True


def host_key() -> str:
    """16 hex digits naming this host's CPU (name and features) and the lleaves/llvmlite versions."""
    import lleaves
    import llvmlite
    import llvmlite.binding as llvm

    text = "|".join(
        (
            str(getattr(lleaves, "__version__", "?")),
            str(llvmlite.__version__),
            llvm.get_host_cpu_name(),
            llvm.get_host_cpu_features().flatten(),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir(bundle: Path) -> Path:
    """Where this host's compiled boosters of the bundle in ``bundle`` live."""
    return bundle / COMPILED_DIR / host_key()


def _compile_one(model_text: str, cache: Path | None, build: bool) -> Forest | None:
    import lleaves

    if cache is not None and not cache.exists() and not build:
        return None
    with tempfile.TemporaryDirectory(prefix="pymk-lleaves-") as tmp:
        model_file = Path(tmp) / "model.txt"
        model_file.write_text(model_text)
        model: Any = lleaves.Model(model_file=str(model_file))
        if cache is None:
            model.compile()
        elif cache.exists():
            model.compile(cache=str(cache))
        else:  # compile into a private name, then rename: a concurrent reader never sees half a file
            cache.parent.mkdir(parents=True, exist_ok=True)
            staged = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
            model.compile(cache=str(staged))
            os.replace(staged, cache)
    forest: Forest = model
    return forest


def compile_boosters(
    model_texts: Sequence[str],
    caches: Sequence[Path | None],
    *,
    build: bool = True,
    threads: int | None = None,
) -> list[Forest] | None:
    """The boosters given as LightGBM model text, compiled (or loaded from ``caches``, one path per booster;
    None: compile in memory). ``build=False`` only loads: None unless every cache file exists.

    Returns None when lleaves is not available or any booster fails to compile (callers keep LightGBM).
    LLVM releases the GIL, so the boosters compile on ``threads`` threads (default: one per core).
    """
    if not model_texts or not available():
        return None
    if len(caches) != len(model_texts):
        raise ValueError(f"{len(caches)} cache paths for {len(model_texts)} boosters")
    workers = max(1, min(len(model_texts), threads or os.cpu_count() or 1))
    try:
        with ThreadPoolExecutor(workers) as pool:
            forests = list(
                pool.map(lambda a: _compile_one(a[0], a[1], build), zip(model_texts, caches, strict=True))
            )
    except Exception as exc:  # an LLVM or cache file problem must not stop scoring: LightGBM still works
        log.warning("compiling the ranker with lleaves failed (%s); scoring with LightGBM", exc)
        return None
    if any(f is None for f in forests):
        return None
    return [f for f in forests if f is not None]
