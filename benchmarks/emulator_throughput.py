"""Requests per second the ``kling-emulator`` serves, so it is never what limits the other benchmarks.

The emulator runs in its own process with ``--tasks`` tasks; an aiohttp client in this process
sends GETs for ``--seconds`` per scenario (bounded in count too) with ``--concurrency`` requests
in flight. Reported next to each rate: the emulator process's CPU use (near 100 % = the emulator
is the bottleneck) and the load ``triggerer_scale.py`` puts on it at N=1000.

    python benchmarks/emulator_throughput.py
    python benchmarks/emulator_throughput.py --seconds 1 --tasks 20    # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import API_KEY, V2A_PATH, create_tasks, emulator, machine, median, percentile, table

MAX_REQUESTS = 200_000


async def load(
    url: str, paths: list[str], seconds: float, concurrency: int, new_connection: bool
) -> dict[str, Any]:
    """Send GETs round-robin over ``paths`` for ``seconds`` (at most MAX_REQUESTS)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=new_connection)
    latencies: list[float] = []
    errors = 0
    sent = 0
    received = 0
    stop_at = time.monotonic() + seconds
    async with aiohttp.ClientSession(
        connector=connector, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as session:

        async def worker() -> None:
            nonlocal errors, sent, received
            while time.monotonic() < stop_at and sent < MAX_REQUESTS:
                path = paths[sent % len(paths)]
                sent += 1
                t = time.perf_counter()
                try:
                    async with session.get(url + path) as response:
                        received += len(await response.read())
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "elapsed": elapsed,
        "latencies": latencies,
        "kb_per_response": received / 1024 / max(1, len(latencies)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration per scenario")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks the emulator holds")
    args = parser.parse_args()
    import psutil

    print(machine())
    print(
        f"emulator throughput: {args.tasks} tasks stored, {args.concurrency} requests in flight, "
        f"{args.seconds:.0f}s per scenario; client and emulator in separate processes"
    )
    print()
    rows = []
    # Lifecycle long enough that every task stays 'processing' (the common case while waiting).
    with emulator(submitted_seconds=1.0, processing_seconds=3600.0) as emu:
        ids = [task["id"] for task in asyncio.run(create_tasks(emu.url, args.tasks, "throughput"))]
        server = psutil.Process(emu.proc.pid)
        scenarios = [
            ("GET query one task, keep-alive", [f"{V2A_PATH}/{i}" for i in ids], False),
            ("GET query one task, new TCP connection each", [f"{V2A_PATH}/{i}" for i in ids], True),
            ("GET list pageSize=500, keep-alive", [f"{V2A_PATH}?pageNum=1&pageSize=500"], False),
        ]
        for name, paths, fresh in scenarios:
            cpu0 = sum(server.cpu_times()[:2])
            result = asyncio.run(load(emu.url, paths, args.seconds, args.concurrency, fresh))
            cpu = sum(server.cpu_times()[:2]) - cpu0
            lat = result["latencies"]
            rows.append(
                [
                    name,
                    result["requests"],
                    result["errors"],
                    result["requests"] / result["elapsed"],
                    result["kb_per_response"],
                    median(lat) * 1000,
                    percentile(lat, 0.99) * 1000,
                    f"{100 * cpu / result['elapsed']:.0f}%",
                ]
            )
            print(f"  ran {name}: {rows[-1][3]:.0f} req/s", flush=True)
    print()
    print(
        table(
            ["scenario", "requests", "errors", "req/s", "KB/response", "p50 ms", "p99 ms", "emulator CPU"],
            rows,
        )
    )
    print()
    print(
        "load from triggerer_scale.py at N=1000, poll 5 s: HttpEventTrigger ~200 req/s on new "
        "connections; KlingTaskTrigger ~0.4 list req/s + one query per finished task"
    )


if __name__ == "__main__":
    main()
