"""A throwaway local Airflow 3 stack plus the Kling emulator: the browser check and the
real-Airflow tests (retries, deferral, back-pressure) run on it.

Everything runs in a temp AIRFLOW_HOME on SQLite (LocalExecutor), on free ports, each process in
its own process group so teardown kills exactly what was started here (and their children).
What a test asserts about Airflow is read back through Airflow's own REST API (``api``,
``task_instances``), and what reached Kling through the emulator's ``/_emulator/stats``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ComponentDied(RuntimeError):
    """A process of the stack exited: no wait can succeed any more (the message has its log's tail)."""


def wait_until(
    what: str,
    check: Callable[[], object],
    timeout: float,
    interval: float = 0.3,
    *,
    alive: Callable[[], None] | None = None,
) -> None:
    """Poll ``check()`` until truthy; bounded so the check always stops by itself.

    Errors of ``check()`` count as "not yet" (a server still starting refuses connections),
    except ``ComponentDied``: it, and any error of ``alive()`` (called before every check, e.g.
    ``Stack.check_alive``), is raised at once instead of turning into a timeout after the full wait.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            if check():
                return
        except ComponentDied:
            raise
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last!r})")


def http_json(url: str, timeout: float = 5.0, *, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return json.loads(resp.read())


# The emulator as the browser check wants it: long enough that the triggerer sees "processing".
DEFAULT_EMULATOR_ARGS = ("--submitted-seconds", "2", "--processing-seconds", "8")
TERMINAL_RUN_STATES = ("success", "failed")


@dataclass
class Stack:
    home: Path
    dags_folder: Path = REPO / "dags"
    emulator_args: tuple[str, ...] = DEFAULT_EMULATOR_ARGS
    parallelism: int = 4
    # Extra Airflow settings for this stack (e.g. a shorter poll interval); they win over the defaults.
    extra_env: dict[str, str] = field(default_factory=dict)
    emulator_port: int = 0
    api_port: int = 0
    log_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    def api(self, path: str) -> Any:
        """GET on the public REST API: used to wait for runs, never as the UI assertion itself."""
        return http_json(f"{self.api_url}/api/v2/{path.lstrip('/')}")

    def api_send(self, method: str, path: str, body: Any) -> Any:
        return http_json(f"{self.api_url}/api/v2/{path.lstrip('/')}", method=method, body=body)

    def emulator(self, path: str, body: Any = None) -> Any:
        """The emulator's own routes: ``stats`` (GET) or ``config`` (POST a patch)."""
        method = "GET" if body is None else "POST"
        return http_json(f"{self.emulator_url}/_emulator/{path}", method=method, body=body)

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        """Until the dag-processor has parsed ``dag_id`` (a trigger before that is a 404)."""
        wait_until(
            f"DAG {dag_id} parsed",
            lambda: self.api(f"dags/{dag_id}"),
            timeout,
            interval=1.0,
            alive=self.check_alive,
        )

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a run through the REST API, as the UI's Trigger button does; returns its run id."""
        self.wait_for_dag(dag_id)
        run = self.api_send("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Until the run ends; returns its state (bounded: raises TimeoutError after ``timeout``)."""
        path = f"dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        state: dict[str, str] = {}

        def ended() -> bool:
            state["value"] = self.api(path)["state"]
            return state["value"] in TERMINAL_RUN_STATES

        wait_until(f"run {run_id} of {dag_id} to end", ended, timeout, interval=1.0, alive=self.check_alive)
        return state["value"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run (mapped ones included), as Airflow reports them."""
        path = f"dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
        found: list[dict[str, Any]] = []
        while True:
            page = self.api(f"{path}?limit=100&offset={len(found)}")
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def log(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                # One secret for all components, else tokens minted by one are refused by another.
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
                "AIRFLOW__API__SECRET_KEY": self._secret("api"),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # The log servers' fixed default ports would clash with any other local Airflow.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_ports[0]),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_ports[1]),
                "AIRFLOW__KLING__POLL_INTERVAL": "1",
                # The DAG's own connection (setup, not under test): JWT mode against the emulator.
                "AIRFLOW_CONN_KLING_DEFAULT": json.dumps(
                    {
                        "conn_type": "kling",
                        "host": self.emulator_url,
                        "login": "emulator-access-key",
                        "password": "emulator-secret-key-0123456789abcdef",
                    }
                ),
            }
        )
        env.update(self.extra_env)
        return env

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}_secret"
        if not path.exists():
            path.write_text(secrets.token_hex(24))
        return path.read_text()

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        out = self.log(name).open("wb")
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=self.home, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = self.log(name).read_text(errors="replace")[-3000:]
                raise ComponentDied(f"{name} exited with {proc.returncode}; the end of its log:\n{tail}")

    def start(self, timeout: float = 120.0) -> None:
        port_file = self.home / "emulator.port"
        self.spawn(
            "emulator",
            [
                str(BIN / "kling-emulator"),
                "--port",
                "0",
                "--port-file",
                str(port_file),
                *self.emulator_args,
            ],
        )
        wait_until(
            "the emulator's port file",
            lambda: port_file.exists() and port_file.read_text(),
            30,
            alive=self.check_alive,
        )
        self.emulator_port = int(port_file.read_text())
        self.api_port = free_port()
        migrate = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"],
            env=self.env(),
            cwd=self.home,
            capture_output=True,
            timeout=180,
        )
        if migrate.returncode:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrate.stdout[-3000:]!r}{migrate.stderr[-3000:]!r}"
            )
        for component in COMPONENTS:
            extra = ["--port", str(self.api_port)] if component == "api-server" else []
            self.spawn(component, [str(BIN / "airflow"), component, *extra])

        def healthy() -> bool:
            health = http_json(f"{self.api_url}/api/v2/monitor/health")
            assert isinstance(health, dict)
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all(health.get(p, {}).get("status") == "healthy" for p in parts)

        wait_until("Airflow health (all components)", healthy, timeout, interval=0.5, alive=self.check_alive)

    def stop(self) -> None:
        """SIGTERM each process group we started, then SIGKILL what is left after a grace period."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            # The group may outlive its leader (task runners, gunicorn/uvicorn workers).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def running_stack(keep_home: bool = False, **options: Any) -> Iterator[Stack]:
    """Start a stack (``options`` are ``Stack`` fields: dags_folder, emulator_args, ...), yield it,
    and stop everything it started, also when the body fails or SIGTERM arrives."""
    home = Path(tempfile.mkdtemp(prefix="kling-airflow-stack-"))
    stack = Stack(home=home, **options)
    # A plain SIGTERM (e.g. from `timeout`) would skip the teardown and orphan the stack's sessions.
    previous = signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
        if not keep_home:
            import shutil

            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":  # manual exploration: python tests/ui/stack.py
    with running_stack(keep_home=True) as s:
        print(f"Airflow {s.api_url}  emulator {s.emulator_url}  home {s.home}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 3600)
