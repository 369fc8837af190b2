"""The serving side of ``pymk demo``, in one process: the real HTTP app called in-process, fed by a worker.

:class:`LocalStack` composes what ``pymk serve`` and ``pymk worker`` run as two processes, with the
embedded defaults and no network port:

- the :func:`~pymk.serving.http.create_app` ASGI app over a
  :class:`~pymk.serving.service.RecommendationService` (the home's precomputed lists, the registry's
  active model, hybrid serving), called with ASGI messages (:meth:`LocalStack.call`);
  ``POST /v1/events`` publishes to the home's event stream (``events_url``, the JSONL file by default);
- a :class:`~pymk.stream.worker.Worker` on a thread, consuming that stream into the home (event log,
  graph) and one in-process online store, which a :class:`~pymk.serving.follow.DeltaFollower` follows
  for the service: the same path an event takes between the two processes, with the Redis hop replaced
  by a shared object.

Settings come from the caller; ``poll_s`` and ``follow_s`` shorten the worker's and follower's waits
(the demo measures event-to-visible time with them).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson

from pymk.config import Settings
from pymk.stream.worker import BatchReport, WorkerReport


class LocalStack:
    """Server and worker of one home in this process (see the module doc). Use as a context manager."""

    def __init__(self, settings: Settings, *, poll_s: float = 0.02, follow_s: float = 0.01) -> None:
        from pymk import stores
        from pymk.cli.worker import stream_name
        from pymk.online import open_online
        from pymk.serving.bootstrap import build_intake, model_slot
        from pymk.serving.coldstart import popular_for_known
        from pymk.serving.exclusions import MemoryExclusions
        from pymk.serving.follow import DeltaFollower
        from pymk.serving.http import create_app
        from pymk.serving.service import RecommendationService
        from pymk.stream import open_source
        from pymk.stream.worker import Worker

        self.settings = settings
        online = open_online(settings.online_url)
        exclusions = MemoryExclusions()
        self.follower = DeltaFollower(online, exclusions, interval_s=follow_s).start()
        slot = model_slot(settings).start()
        self.service = RecommendationService(
            stores.list_store(settings),
            models=slot,
            exclusions=exclusions,
            mode=settings.serving_mode,
            budget_s=settings.realtime_budget_ms / 1000.0,
            cold_start=popular_for_known(slot, self.follower.knows),
        )
        self.app = create_app(self.service, build_intake(settings))
        url = settings.resolve(settings.events_url)
        name, group = stream_name(url)
        self._seen, self._letters = stores.seen_events_store(settings), stores.deadletter_store(settings)
        self._source = open_source(url)
        self.worker = Worker(
            self._source,
            settings.home,
            seen=self._seen,
            deadletters=self._letters,
            online=online,
            source_name=name,
            group=group,
            batch_size=settings.worker_batch_size,
            poll_s=poll_s,
            hooks=[self._count],
        )
        self.consumed = 0  # records the worker has acked (applied, repeated or dead-lettered)
        self._stop = threading.Event()
        self.report: WorkerReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="pymk-demo-worker", daemon=True)

    def _count(self, batch: BatchReport) -> None:
        self.consumed += batch.records

    def _work(self) -> None:
        from pymk.stream.worker import home_lock

        try:
            with home_lock(self.settings.home):
                self.report = self.worker.run(should_stop=self._stop.is_set)
        except BaseException as exc:  # reported by wait_for / close, in the caller's thread
            self.error = exc

    def __enter__(self) -> LocalStack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker after its batch, then the service and the stores."""
        self._stop.set()
        self._thread.join(30)
        self.service.close()
        self.follower.close()
        for close in (self._source.close, self._letters.close, self._seen.close):
            close()

    # -- HTTP, in-process ---------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        """One request to the app: ``(status, headers, JSON body)``; ``body`` is sent as JSON (a list
        of events is sent as NDJSON, as clients of ``POST /v1/events`` do)."""
        raw, _, query = path.partition("?")
        if isinstance(body, list):
            payload = b"\n".join(orjson.dumps(e) for e in body)
        else:
            payload = b"" if body is None else orjson.dumps(body)
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method,
            "path": raw,
            "raw_path": raw.encode(),
            "query_string": query.encode(),
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 0),
        }
        messages = [{"type": "http.request", "body": payload, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        async def main() -> None:
            await self.app(scope, receive, send)

        asyncio.run(main())
        headers = {k.decode().lower(): v.decode() for k, v in sent[0].get("headers", [])}
        content = b"".join(m.get("body", b"") for m in sent[1:])
        return int(sent[0]["status"]), headers, orjson.loads(content) if content else None

    def recommendations(self, user: str, k: int = 10) -> dict[str, Any]:
        """``GET /v1/users/{user}/recommendations?k=`` (the body; ``{"items": []}`` on 404)."""
        status, _, body = self.call("GET", f"/v1/users/{user}/recommendations?k={k}")
        if status == 404:
            return {"user_id": user, "items": []}
        if status != 200:
            raise RuntimeError(f"GET recommendations of {user}: HTTP {status}: {body}")
        result: dict[str, Any] = body
        return result

    def items(self, user: str, k: int = 10) -> list[str]:
        """The ids ``user``'s recommendations list now."""
        return [str(i["user_id"]) for i in self.recommendations(user, k)["items"]]

    def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /v1/events`` (NDJSON, in chunks of the API's limit); the summed answers."""
        total: dict[str, Any] = {"accepted": 0, "rejected": 0}
        for start in range(0, len(events), 1000):
            status, _, body = self.call("POST", "/v1/events", events[start : start + 1000])
            if status != 202:
                raise RuntimeError(f"POST /v1/events: HTTP {status}: {body}")
            total["accepted"] += int(body["accepted"])
            total["rejected"] += int(body["rejected"])
        return total

    # -- waiting on the worker ----------------------------------------------------------------------

    def wait_for(self, done: Callable[[], bool], timeout_s: float = 60.0, every_s: float = 0.002) -> float:
        """Seconds until ``done()`` holds (checked every ``every_s``); raises ``TimeoutError`` past
        ``timeout_s`` and re-raises an error that stopped the worker."""
        started = time.perf_counter()
        while not done():
            if self.error is not None:
                raise self.error
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"not done after {timeout_s:g} s")
            time.sleep(every_s)
        return time.perf_counter() - started
