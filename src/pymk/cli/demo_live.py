"""The live stages of ``pymk demo`` on a :class:`~pymk.cli.demo_stack.LocalStack`: serve, stream, feedback.

- :func:`serve_stage`: lists for a sample of users through ``POST /v1/recommendations:batch`` (they are
  the "shown" lists the feedback is about), and one user's list through
  ``GET /v1/users/{id}/recommendations``, printed with its reasons, source, model version and request id;
- :func:`stream_stage`: the held-back live events through ``POST /v1/events`` → event stream → worker →
  online store → the server's follower; then one ``connect`` between the shown user and someone in
  their list, timed from the POST until neither user's list names the other;
- :func:`feedback_stage`: simulated impressions and clicks on the served lists
  (:func:`~pymk.sim.feedback.simulate_feedback`; the ground truth are the live day's connects, which the
  stream already applied, so acceptance is measured on real simulated connects), posted the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from pymk.cli.common import console
from pymk.cli.demo_stack import LocalStack
from pymk.sim.feedback import FeedbackConfig, ServedList, as_events, future_pairs, simulate_feedback

out = Console()
#: List width served and shown.
K = 10


@dataclass(frozen=True)
class Showcase:
    """The user whose list the demo prints, and the connect the stream stage sends for them."""

    user: str
    friend: str
    from_stream: bool  # True: the connect is one of the live events (the model listed a true connection)


def serve_stage(
    stack: LocalStack,
    live: list[dict[str, Any]],
    users: int,
    seed: int,
    served_at: float,
    spread_s: float = 0.0,
) -> tuple[list[ServedList], Showcase | None, dict[str, Any]]:
    """Serve ``users`` users (the live connects' users first) and pick and print the showcase user.

    Each list is taken as shown at a uniform random time in ``[served_at, served_at + spread_s)`` (UNIX
    seconds): users open the app over the day, so the CTR over time has a point per hour."""
    rng = np.random.default_rng(seed)
    connects = [(str(e["actor"]), str(e["target"])) for e in live if e["type"] == "connect" and e["target"]]
    known = stack.service.models.routing.control if stack.service.models is not None else None
    everyone = [] if known is None else sorted(known.index)
    wanted = list(dict.fromkeys([a for a, _ in connects] + [b for _, b in connects]))
    extra = [everyone[i] for i in rng.permutation(len(everyone))[: max(0, users - len(wanted))]]
    sample = list(dict.fromkeys(wanted + extra))[:users]
    served: list[ServedList] = []
    for start in range(0, len(sample), 1000):
        status, _, body = stack.call(
            "POST", f"/v1/recommendations:batch?k={K}", {"user_ids": sample[start : start + 1000]}
        )
        if status != 200:
            raise RuntimeError(f"POST /v1/recommendations:batch: HTTP {status}: {body}")
        for r in body["results"]:
            if "items" in r:
                served.append(ServedList.from_response(r, served_at + float(rng.uniform(0.0, spread_s))))
    listed = {s.user_id: s.items for s in served}
    hits = [(a, b) for a, b in connects if b in listed.get(a, ()) or a in listed.get(b, ())]
    showcase: Showcase | None
    if hits:
        a, b = hits[0]
        showcase = Showcase(a, b, True) if b in listed.get(a, ()) else Showcase(b, a, True)
    else:
        first = next((s for s in served if s.items), None)
        showcase = None if first is None else Showcase(first.user_id, first.items[0], False)
    stats: dict[str, Any] = {
        "served_lists": len(served),
        "items_served": sum(len(s.items) for s in served),
        "empty_lists": sum(1 for s in served if not s.items),
        "sources": _count(s.source for s in served),
        "live_connects_listed": len(hits),
    }
    console.print(
        f"served {len(served):,} lists through POST /v1/recommendations:batch (k={K}); "
        f"sources: {', '.join(f'{k} {v:,}' for k, v in stats['sources'].items())}; "
        f"{len(hits):,} of the live day's {len(connects):,} connects were already listed",
        highlight=False,
    )
    if showcase is not None:
        status, headers, body = stack.call("GET", f"/v1/users/{showcase.user}/recommendations?k={K}")
        print_list(body, headers.get("x-request-id", ""))
        stats["shown"] = body
    return served, showcase, stats


def print_list(body: dict[str, Any], request_id: str, title: str | None = None) -> None:
    """One recommendations answer as a table (rank, user, score, source, reasons)."""
    table = Table(
        title=title or f"GET /v1/users/{body['user_id']}/recommendations?k={K}",
        caption=f"model {body.get('model_version')} · source {body.get('source')} · request id "
        f"{body.get('request_id', request_id)} · generated {body.get('generated_at')}",
    )
    for name in ("#", "user", "score", "source", "reasons"):
        table.add_column(name, justify="right" if name in ("#", "score") else "left")
    for rank, item in enumerate(body.get("items", []), 1):
        reasons = ", ".join(f"{k} {_fmt(v)}" for k, v in (item.get("reasons") or {}).items())
        table.add_row(
            str(rank),
            str(item["user_id"]),
            f"{item.get('score', float('nan')):.3f}",
            str(item.get("source") or body.get("source", "")),
            reasons,
        )
    out.print(table)


def stream_stage(
    stack: LocalStack, live: list[dict[str, Any]], showcase: Showcase | None, now: float
) -> dict[str, Any]:
    """Post the live events (all but the showcase connect), wait until the worker applied them, then
    post the showcase connect alone and time it to visible. Returns the figures for the summary."""
    pair = None if showcase is None else {showcase.user, showcase.friend}
    burst = [
        e
        for e in live
        if not (e["type"] == "connect" and pair is not None and {e["actor"], e["target"]} == pair)
    ]
    before = stack.consumed
    posted = stack.post_events(burst)
    # Events the intake refused went to the dead-letter store, not to the stream: wait for the rest.
    seconds = stack.wait_for(lambda: stack.consumed - before >= posted["accepted"], timeout_s=300)
    console.print(
        f"{posted['accepted']:,} live events posted to /v1/events and applied by the worker in "
        f"{seconds:.2f} s after the last POST ({posted['rejected']:,} rejected to the dead-letter store)",
        highlight=False,
    )
    result: dict[str, Any] = {"events": len(burst), "accepted": posted["accepted"], "apply_s": seconds}
    if showcase is None:
        return result
    a, b = showcase.user, showcase.friend
    shown_before = stack.recommendations(a, K)
    event = {"event_id": f"demo-connect-{a}-{b}", "ts": now, "type": "connect", "actor": a, "target": b}
    stack.post_events([event])
    visible = stack.wait_for(lambda: b not in stack.items(a, K) and a not in stack.items(b, K), timeout_s=30)
    after = stack.recommendations(a, K)
    old = [str(i["user_id"]) for i in shown_before["items"]]
    new = [str(i["user_id"]) for i in after["items"]]
    fresh = [i for i in after["items"] if str(i["user_id"]) not in old]
    how = "one of the live day's connects" if showcase.from_stream else "a connect the demo sends"
    # The rest of the live day can push b out of a's top k before the connect (fresh friends of
    # friends take slots): say so rather than a rank.
    where = f"#{old.index(b) + 1} in {a}'s list" if b in old else f"no longer in {a}'s top {K}"
    visible_ms = round(visible * 1000, 1)  # printed from the summary's figure, so the two always agree
    console.print(
        f"[bold]connect {a} → {b}[/] ({how}; {b} was {where}): visible in "
        f"[bold]{visible_ms:.0f} ms[/] from POST /v1/events to both users' next GET "
        f"(worker poll {stack.worker.poll_s * 1000:.0f} ms, "
        f"follower {stack.follower.interval_s * 1000:.0f} ms)",
        highlight=False,
    )
    print_list(after, "", title=f"{a}'s list after the connect: {b} gone, {len(fresh)} new")
    result.update(
        connect={"actor": a, "target": b, "from_stream": showcase.from_stream},
        visible_ms=visible_ms,
        gone=[u for u in old if u not in new],
        new=[
            {"user_id": str(i["user_id"]), "source": i.get("source"), "reasons": i.get("reasons")}
            for i in fresh
        ],
    )
    return result


def feedback_stage(
    stack: LocalStack, served: list[ServedList], live: list[dict[str, Any]], since: float, seed: int
) -> dict[str, Any]:
    """Impressions and clicks on ``served`` (truth: the connects among ``live`` at or after ``since``,
    UNIX seconds), posted through the app and applied by the worker."""
    columns = {name: [e.get(name) for e in live] for name in ("ts", "type", "actor", "target")}
    table = pa.table({**columns, "ts": pa.array([float(t or 0.0) for t in columns["ts"]], pa.float64())})
    truth = future_pairs(table, since)
    config = FeedbackConfig(p_connect_true=0.0, p_connect_false=0.0, seed=seed)
    events = as_events(simulate_feedback(served, truth, config))
    before = stack.consumed
    posted = stack.post_events(events)
    stack.wait_for(lambda: stack.consumed - before >= posted["accepted"], timeout_s=300)
    counts = _count(e["type"] for e in events)
    console.print(
        f"{counts.get('impression', 0):,} impressions and {counts.get('click', 0):,} clicks on "
        f"{len(served):,} served lists posted and applied ({posted['rejected']:,} rejected); "
        f"{len(truth):,} pairs connected during the live day (the acceptance ground truth)",
        highlight=False,
    )
    return {"events": len(events), **counts, "truth_pairs": len(truth)}


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
