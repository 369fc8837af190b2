"""Import throughput: ``pymk import`` of sx-askubuntu-a2q (snap-temporal, 280k rows) into a temp home.

Prints rows/s for the whole import and per stage (parse, dedupe, id map, log write, graph apply, dead
letters), CPU seconds (robust to other load on the machine), peak RSS, and the same for a re-import
(every row a duplicate); writes ``benchmarks/out/import_throughput.json``.

    .venv/bin/python benchmarks/import_throughput.py [--file F --format FMT] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from _data import eval_data_dir
from pymk.config import load_settings
from pymk.io.importer import ImportReport, import_file

DEFAULT = eval_data_dir() / "sx-askubuntu-a2q/sx-askubuntu-a2q.txt.gz"
OUT = Path(__file__).resolve().parent / "out" / "import_throughput.json"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run(path: Path, fmt: str, home: Path) -> dict[str, Any]:
    cpu = time.process_time()
    report: ImportReport = import_file(path, fmt, load_settings(home=home))
    cpu = time.process_time() - cpu
    rows = report.rows_read
    return {
        **report.to_dict(),
        "cpu_seconds": cpu,
        "stage_rows_per_second": {k: rows / v if v > 0 else None for k, v in report.stages.items()},
        "peak_rss_mib": _peak_rss_mib(),
    }


def _show(label: str, run: dict[str, Any]) -> None:
    print(
        f"{label}: {run['rows_read']:,} rows in {run['seconds']:.2f} s "
        f"= {run['rows_per_second']:,.0f} rows/s "
        f"(CPU {run['cpu_seconds']:.2f} s; applied {run['applied']:,}, duplicates {run['duplicates']:,}, "
        f"rejected {sum(run['rejected'].values()):,}; peak RSS {run['peak_rss_mib']:.0f} MiB)"
    )
    for stage, seconds in run["stages"].items():
        rate = run["stage_rows_per_second"][stage]
        print(
            f"  {stage:<12} {seconds:6.2f} s  {rate:>12,.0f} rows/s"
            if rate
            else f"  {stage:<12} {seconds:6.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--file", type=Path, default=DEFAULT)
    parser.add_argument("--format", default="snap-temporal")
    parser.add_argument("--repeat", type=int, default=1, help="fresh imports to run; the fastest is kept")
    args = parser.parse_args()
    rss_before = _peak_rss_mib()
    load = os.getloadavg()
    firsts, again = [], None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="pymk-bench-") as tmp:
            firsts.append(_run(args.file, args.format, Path(tmp) / "home"))
            if again is None:
                again = _run(args.file, args.format, Path(tmp) / "home")
    first = min(firsts, key=lambda r: r["seconds"])
    assert again is not None
    _show("import  ", first)
    _show("re-import", again)
    result = {
        "file": str(args.file),
        "format": args.format,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_at_start": load},
        "rss_before_mib": rss_before,
        "import": first,
        "reimport": again,
        "all_import_seconds": [r["seconds"] for r in firsts],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
