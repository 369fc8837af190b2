"""``pymk evaluate``: the DESIGN §4 offline evaluation of baselines (and later the pymk model)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from pymk.cli.common import console, named_progress, user_errors
from pymk.errors import InvalidInput
from pymk.io.formats import SHAPE, Format

#: Default ``--models``: the §4.7 baselines (``pymk.evaluation.registry.BASELINES``, spelled out here so
#: that ``pymk --help`` need not import NumPy and SciPy; a test keeps the two equal).
DEFAULT_MODELS = "popularity,recent,cn,aa,ra,ppr"

_FORMATS = ", ".join(f.value for f in Format)
_FORMAT_HELP = "Input format: " + "; ".join(f"{f.value} ({SHAPE[f]})" for f in Format) + "."


def parse_format(text: str) -> Format:
    """The :class:`Format` named ``text``; :class:`InvalidInput` listing the formats otherwise."""
    try:
        return Format(text)
    except ValueError:
        raise InvalidInput(f"unknown format {text!r}; use one of: {_FORMATS}") from None


def parse_ks(text: str) -> list[int]:
    """``"10,20,50"`` → ``[10, 20, 50]``; :class:`InvalidInput` unless all are positive integers."""
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"--k must be comma-separated positive integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise InvalidInput(f"--k must be comma-separated positive integers, got {text!r}")
    return sorted(set(ks))


def parse_models(text: str) -> list[str]:
    """``"cn, aa"`` → ``["cn", "aa"]`` (order kept, blanks dropped)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidInput("--models names no model")
    return names


def evaluate_command(
    file: Annotated[Path, typer.Argument(help="Interactions file (plain or .gz).", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP, show_default=False)],
    k: Annotated[
        str, typer.Option("--k", help="Cut-offs for recall@k and ndcg@k, comma-separated.")
    ] = "10,20,50",
    models: Annotated[
        str,
        typer.Option("--models", "-m", help="Models to evaluate, comma-separated (pymk: the full pipeline)."),
    ] = DEFAULT_MODELS,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Also write the result as JSON (DESIGN §4 shape) here.", show_default=False
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write a self-contained HTML report here (recall@k curves per model, metrics table).",
            show_default=False,
        ),
    ] = None,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the rows (the latest ones) held out as test.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Shuffle seed for data without time (snap-static).")] = 0,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Replay the test rows in time order: hit@k of each new pair from the state of each "
            "--refresh policy, with query counts, cold-start coverage and CPU cost (default models: "
            "active7d and the baselines).",
        ),
    ] = False,
    refresh: Annotated[
        str,
        typer.Option(help="With --replay: refresh policies (0 = real-time, 1h, 6h, 24h, 7d, ..., never)."),
    ] = "0,1h,6h,24h,7d,never",
    request_rate: Annotated[
        float, typer.Option(help="With --replay: real-time requests per second, for the cost column.")
    ] = 1.0,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="With --replay: also plot hit@k and cost against the refresh interval (PNG).",
            show_default=False,
        ),
    ] = None,
    max_states: Annotated[
        int | None,
        typer.Option(
            help="With --replay: re-state at most this many times per policy and model; a policy needing "
            "more (real time: one state per event time) answers the queries of a seeded random sample of "
            "that many states — an estimate, shown with its 95% interval, for models slow to re-state "
            "(pymk: ~1-2 s a state on CollegeMsg).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Evaluate recommenders on FILE with the DESIGN §4 protocol: time split, new-link recall@k and ndcg@k.

    Trains on the first (1 - test fraction) of the rows in time order and asks each model to rank all
    train users for every user who gains a new neighbour in the rest. Prints a table; --json saves it.

    With --replay, the rest is replayed in time order instead: each new pair is a query for both users,
    answered from the state of each --refresh policy (real-time, every D, never); see
    pymk.evaluation.replay.
    """
    with user_errors():
        fmt_ = parse_format(fmt)
        ks = parse_ks(k)
        if not 0.0 < test_fraction < 1.0:
            raise InvalidInput(f"--test-fraction must be between 0 and 1, got {test_fraction}")
        if replay:
            from pymk.cli.evaluate_replay import REPLAY_MODELS, run_replay

            if report is not None:
                raise InvalidInput("--report draws the recall@k evaluation; with --replay use --plot")

            names = parse_models(REPLAY_MODELS if models == DEFAULT_MODELS else models)
            run_replay(
                file,
                fmt_,
                ks,
                names,
                json_out,
                refresh=refresh,
                request_rate=request_rate,
                plot=plot,
                test_fraction=test_fraction,
                seed=seed,
                max_states=max_states,
            )
            return
        run_evaluation(
            file,
            fmt_,
            ks,
            parse_models(models),
            json_out,
            test_fraction=test_fraction,
            seed=seed,
            report=report,
        )


def run_evaluation(
    file: Path,
    fmt: Format,
    ks: list[int],
    model_names: list[str],
    json_out: Path | None,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    report: Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``model_names`` on ``file`` with progress bars, print the table, and return the §4 result.

    ``json_out``/``report``: also write the result as JSON / as a self-contained HTML page there.

    Shared by ``pymk evaluate`` and ``pymk demo``. Raises :class:`InvalidInput` for an unknown model or
    a missing file.
    """
    from pymk.evaluation.protocol import load_interactions, split_interactions
    from pymk.evaluation.registry import default_registry
    from pymk.evaluation.report import results_table, write_json
    from pymk.evaluation.runner import evaluate

    instances = default_registry().create_all(model_names)
    if not file.is_file():
        raise InvalidInput(f"no such file: {file}")

    start = time.perf_counter()
    with console.status(f"reading {file.name} ..."):
        split = split_interactions(load_interactions(file, fmt), test_fraction=test_fraction, seed=seed)
    console.print(
        f"read {file.name}: {split.n_users:,} train users, {split.query_users.shape[0]:,} query users "
        f"({time.perf_counter() - start:.1f} s)"
    )
    with named_progress(12) as on_progress:
        result = evaluate(split, instances, ks, progress=on_progress)

    # The table is the command's output (stdout); status and progress go to stderr. When stdout is
    # not a terminal, size it to the table rather than to 80 columns, so no header gets cut.
    table = results_table(result, title=f"pymk evaluate · {file.name}")
    out = Console()
    if not out.is_terminal:
        out = Console(width=max(80, out.measure(table, options=out.options.update_width(500)).maximum))
    out.print(table)
    if json_out is not None:
        write_json(result, json_out)
        console.print(f"wrote {json_out}")
    if report is not None:
        from pymk.evaluation.report import write_html_report

        write_html_report(result, report, title=f"pymk evaluate · {file.name}")
        console.print(f"wrote {report}")
    console.print(f"total {time.perf_counter() - start:.1f} s")
    return result


def register(app: typer.Typer) -> None:
    """Add ``pymk evaluate`` to ``app``."""
    app.command("evaluate")(evaluate_command)
