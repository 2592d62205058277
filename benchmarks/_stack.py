"""Drive the stack of ``scripts/stack.sh`` from Python: up/down, pid files, REST API, processes.

Everything the chaos run asserts comes through here from real processes: Airflow's public REST
API, the emulator's ``/_emulator/stats``, and ``psutil`` on the pids ``stack.sh`` recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
STACK_SH = REPO / "scripts" / "stack.sh"


def parse_time(value: str | None) -> float | None:
    """An API timestamp (ISO 8601, with zone) as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def wait_until(what: str, check: Callable[[], object], timeout: float, interval: float = 1.0) -> Any:
    """Poll ``check()`` until it returns something truthy (returned); bounded."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last!r})")


def http(method: str, url: str, body: Any = None, timeout: float = 20.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


@dataclass
class Stack:
    """A running ``scripts/stack.sh`` stack in ``directory`` (``KLING_STACK_DIR``)."""

    directory: Path
    api_url: str = ""
    emulator_url: str = ""
    # False: Airflow talks to the stack's own emulator even if the caller set a Kling connection.
    pass_kling_conn: bool = True

    def _run(self, command: str, timeout: float) -> str:
        env = {**os.environ, "KLING_STACK_DIR": str(self.directory)}
        if not self.pass_kling_conn:
            env.pop("AIRFLOW_CONN_KLING_DEFAULT", None)
        done = subprocess.run(
            ["bash", str(STACK_SH), command],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"stack.sh {command} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done.stdout

    def up(self, timeout: float = 900.0) -> None:
        """Start whatever is not running (``up`` is idempotent): also how a killed part comes back."""
        out = self._run("up", timeout)
        urls = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.api_url, self.emulator_url = urls["api"], urls["emulator"]

    def down(self) -> None:
        self._run("down", 180)

    def clean(self) -> None:
        """``down``, then delete the stack folder and PostgreSQL's data (also when it lives elsewhere)."""
        self._run("clean", 240)

    def pg_restart(self) -> None:
        self._run("pg-restart", 120)

    def pid(self, component: str) -> int | None:
        path = self.directory / "pids" / f"{component}.pid"
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(path.read_text().split()[0])
        return None

    def components(self, prefix: str) -> list[str]:
        return sorted(p.stem for p in (self.directory / "pids").glob(f"{prefix}-*.pid"))

    def kill9(self, component: str) -> int:
        """SIGKILL the component's whole process group, as a lost machine or an OOM kill does."""
        pid = self.pid(component)
        if pid is None:
            raise RuntimeError(f"no pid file for {component}")
        os.killpg(pid, signal.SIGKILL)
        return pid

    def stop(self, component: str, timeout: float = 20.0) -> None:
        """SIGTERM the component's group and wait for its leader to go (a clean shutdown)."""
        pid = self.pid(component)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(timeout)

    # ------------------------------------------------------------------ HTTP

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return http(method, f"{self.api_url}/api/v2/{path.lstrip('/')}", body)

    def emulator(self, method: str, path: str, body: Any = None) -> Any:
        return http(method, f"{self.emulator_url}{path}", body)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones one by one), paged."""
        out: list[dict[str, Any]] = []
        while True:
            query = urllib.parse.urlencode({"limit": 100, "offset": len(out)})
            page = self.api(
                "GET", f"dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances?{query}"
            )
            out.extend(page["task_instances"])
            if len(out) >= page["total_entries"] or not page["task_instances"]:
                return out


def process_tree(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def tree_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process and all its children now."""
    cpu, rss = 0.0, 0
    for proc in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = proc.cpu_times()
            cpu += times.user + times.system
            rss += proc.memory_info().rss
    return cpu, rss


def connections_to(pid: int, port: int) -> set[tuple[int, int]]:
    """(pid, local port) of each established TCP connection to 127.0.0.1:``port`` in the tree."""
    found: set[tuple[int, int]] = set()
    for proc in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for conn in proc.net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED:
                    found.add((proc.pid, conn.laddr.port))
    return found


@contextlib.contextmanager
def running(
    directory: Path, keep: bool = False, pass_kling_conn: bool = True, clean: bool = False
) -> Iterator[Stack]:
    """``up`` now, ``down`` (or ``clean``) afterwards (also after a failure or a SIGTERM), unless ``keep``."""
    stack = Stack(directory, pass_kling_conn=pass_kling_conn)

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        stack.up()
        yield stack
    finally:
        try:
            if clean and not keep:
                stack.clean()
            elif not keep:
                stack.down()
        finally:
            signal.signal(signal.SIGTERM, previous)
