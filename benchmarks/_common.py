"""Shared pieces of the benchmarks: an emulator in its own process, its stats, tables, the machine."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kling_emulator.state import DEFAULT_API_KEY as API_KEY
from kling_emulator.state import SAMPLE_VIDEO_ID

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
V2A_PATH = "/v1/audio/video-to-audio"
# Kinds a scale benchmark can create: a legacy one, and a new-design one (Kling 3.0, KLING_API §8).
BENCH_KINDS = ("video-to-audio", "text-to-video")
T2V_PATH = "/text-to-video/kling-3.0-turbo"  # new design: the model is in the path (§8.1)


@dataclass
class Emulator:
    """A ``kling-emulator`` process (its CPU is not the benchmarked process's CPU)."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=10) as response:
            stats: dict[str, Any] = json.loads(response.read())
        return stats

    def kling_conn(self) -> str:
        """A ``kling`` connection in static-key (proxy) mode, as an AIRFLOW_CONN_* value."""
        return json.dumps({"conn_type": "kling", "host": self.url, "password": API_KEY})

    def http_conn(self) -> str:
        """An ``http`` connection whose extra carries the API key as a header (http provider style)."""
        return json.dumps(
            {"conn_type": "http", "host": self.url, "extra": {"Authorization": f"Bearer {API_KEY}"}}
        )


@contextmanager
def emulator(submitted_seconds: float, processing_seconds: float) -> Iterator[Emulator]:
    """Start ``kling-emulator --port 0`` in its own process group; stop that group on exit."""
    with tempfile.TemporaryDirectory(prefix="kling-bench-") as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen(
            [
                str(BIN / "kling-emulator"),
                "--host",
                HOST,
                "--port",
                "0",
                "--port-file",
                str(port_file),
                "--submitted-seconds",
                str(submitted_seconds),
                "--processing-seconds",
                str(processing_seconds),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"kling-emulator did not start: {err[-2000:]}")
                time.sleep(0.05)
            yield Emulator(proc, int(port_file.read_text()))
        finally:
            stop_process_group(proc, grace=10)


def stop_process_group(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM the process group a benchmark started (``start_new_session``), SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def create_tasks(url: str, n: int, tag: str, kind: str = "video-to-audio") -> list[dict[str, Any]]:
    """Submit n tasks of ``kind`` (``BENCH_KINDS``) over a few keep-alive connections; returns
    [{id, created}]. ``text-to-video`` goes through the new design's create route (§8.1)."""
    import aiohttp

    if kind not in BENCH_KINDS:
        raise ValueError(f"kind: must be one of {BENCH_KINDS}, got {kind!r}")
    out: list[dict[str, Any]] = []
    semaphore = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session:

        async def one(i: int) -> None:
            if kind == "text-to-video":
                options = {"external_task_id": f"{tag}-{i}"}
                path, body = T2V_PATH, {"prompt": "A kite over the sea", "options": options}
            else:
                path, body = V2A_PATH, {"video_id": SAMPLE_VIDEO_ID, "external_task_id": f"{tag}-{i}"}
            async with semaphore, session.post(url + path, json=body) as response:
                payload = await response.json()
            if payload.get("code") != 0:
                raise RuntimeError(f"emulator refused a submit: {payload}")
            data = payload["data"]
            if kind == "text-to-video":  # new design: data{id, status, create_time, ...} (§8.4)
                out.append({"id": data["id"], "created": data["create_time"] / 1000})
            else:
                out.append({"id": data["task_id"], "created": data["created_at"] / 1000})

        await asyncio.gather(*(one(i) for i in range(n)))
    return out


def query_endpoint(kind: str, task_id: str) -> str:
    """The route a plain client polls for one task: legacy ``GET …/{id}``, new ``GET /tasks?task_ids=``."""
    return f"/tasks?task_ids={task_id}" if kind == "text-to-video" else f"{V2A_PATH}/{task_id}"


def airflow_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child that imports Airflow: private home, quiet logs, no proxies."""
    home = Path(tempfile.gettempdir()) / "kling-bench-airflow-home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra or {})
    return env


def setup_airflow_env() -> None:
    """The same environment, applied to this process (call before importing airflow)."""
    os.environ.update(airflow_env())


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (readable in a terminal, pasteable into README.md)."""
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def machine() -> str:
    """One line naming the machine and versions, printed by every benchmark."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        ram = f"{mem_kb / 1024**2:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        ram = "?"
    from importlib.metadata import version

    return (
        f"machine: {os.cpu_count()} CPUs ({cpu}), {ram} RAM, Python {platform.python_version()}, "
        f"apache-airflow {version('apache-airflow')}, apache-airflow-providers-http "
        f"{version('apache-airflow-providers-http')}, aiohttp {version('aiohttp')}; "
        f"load average {os.getloadavg()[0]:.1f} (other work on the machine skews timings)"
    )
