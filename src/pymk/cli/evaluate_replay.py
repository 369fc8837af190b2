"""``pymk evaluate --replay``: recall and cost of refresh policies, replaying the test rows in time order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from pymk.cli.common import console, named_progress
from pymk.errors import InvalidInput
from pymk.io.formats import Format

#: Default refresh policies of ``--refresh``.
DEFAULT_REFRESH = "0,1h,6h,24h,7d,never"

#: What ``--replay`` evaluates when ``--models`` is left at its default: the check model, then the baselines.
REPLAY_MODELS = "active7d,popularity,recent,cn,aa,ra,ppr"


def run_replay(
    file: Path,
    fmt: Format,
    ks: list[int],
    model_names: list[str],
    json_out: Path | None,
    *,
    refresh: str = DEFAULT_REFRESH,
    request_rate: float = 1.0,
    plot: Path | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_states: int | None = None,
) -> dict[str, Any]:
    """Replay ``file`` under each ``refresh`` policy for every model; print the table, return the result.

    The result is :func:`pymk.evaluation.replay.replay`'s, with each policy's cost (see
    :mod:`pymk.evaluation.replay_cost`) at ``request_rate`` real-time requests per second.
    """
    from pymk.evaluation.protocol import load_interactions
    from pymk.evaluation.replay import ReplayData, StateModel, parse_policies, replay
    from pymk.evaluation.replay_cost import add_costs, measure_costs
    from pymk.evaluation.replay_models import replay_factories
    from pymk.evaluation.replay_report import replay_plot, replay_table
    from pymk.evaluation.report import write_json

    policies = parse_policies(refresh)
    factories = replay_factories(model_names)
    if not file.is_file():
        raise InvalidInput(f"no such file: {file}")
    if max_states is not None and max_states < 1:
        raise InvalidInput(f"--max-states must be >= 1, got {max_states}")
    if request_rate < 0:
        raise InvalidInput(f"--request-rate must be >= 0, got {request_rate}")
    start = time.perf_counter()
    with console.status(f"reading {file.name} ..."):
        data = ReplayData.build(load_interactions(file, fmt), test_fraction=test_fraction, seed=seed)
    console.print(
        f"read {file.name}: {data.n_users:,} users, {data.n_train:,} train rows, "
        f"{data.new_pair_rows().shape[0]:,} new pairs to replay ({time.perf_counter() - start:.1f} s)"
    )
    costs: dict[str, dict[str, float]] = {}

    def measure(name: str, model: StateModel) -> None:
        costs[name] = measure_costs(data, model, max(ks))

    with named_progress(18) as on_progress:
        result = replay(
            data, factories, policies, ks, progress=on_progress, after_fit=measure, max_states=max_states
        )
    add_costs(result, data, costs, policies, request_rate)

    table = replay_table(result, title=f"pymk evaluate --replay · {file.name}")
    out = Console()
    if not out.is_terminal:
        out = Console(width=max(80, out.measure(table, options=out.options.update_width(500)).maximum))
    out.print(table)
    if json_out is not None:
        write_json(result, json_out)
        console.print(f"wrote {json_out}")
    if plot is not None:
        if replay_plot(result, plot, max(ks) if 20 not in ks else 20):
            console.print(f"wrote {plot}")
        else:
            console.print("matplotlib is not installed: no plot written")
    console.print(f"total {time.perf_counter() - start:.1f} s")
    return result
