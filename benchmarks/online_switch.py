"""How long ``pymk online rebuild``'s Redis switch blocks other clients.

Fills a staging store of N small keys (and a live store of N/2 to remove), then runs
:meth:`RedisRebuild.switch` while a second client PINGs in a loop: its worst round trip is how long Redis
served nobody else (the EXEC of the MULTI/EXEC). Cleans up its keys. Usage:

    python benchmarks/online_switch.py 355649 [redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import sys
import threading
import time

import redis

from pymk.online.redis_rebuild import RedisRebuild

PREFIX = "pymk-bench-switch:"


def main(n: int, url: str) -> None:
    client = redis.Redis.from_url(url)
    plan = RedisRebuild(client, PREFIX)
    plan.prepare()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.hset(f"{plan.staging}{{u:{i}}}:meta", "degree", 1)
        if i < n // 2:
            pipe.set(f"{PREFIX}{{u:old{i}}}:meta", 1)
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    stop = threading.Event()
    rtts: list[float] = []

    def pinger() -> None:
        other = redis.Redis.from_url(url)
        while not stop.is_set():
            started = time.perf_counter()
            other.ping()
            rtts.append(time.perf_counter() - started)

    thread = threading.Thread(target=pinger)
    thread.start()
    time.sleep(0.5)
    started = time.perf_counter()
    report = plan.switch()
    total = time.perf_counter() - started
    time.sleep(0.5)
    stop.set()
    thread.join()
    rtts.sort()
    print(
        f"renamed {report.renamed:,}, removed {report.removed:,}: switch() {total:.2f} s "
        f"(transaction sent and executed {report.seconds:.2f} s); another client's PING: worst "
        f"{rtts[-1] * 1000:.0f} ms, p50 {rtts[len(rtts) // 2] * 1000:.2f} ms"
    )
    for key in list(client.scan_iter(match=PREFIX + "*", count=5_000)):
        client.unlink(key)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/0")
