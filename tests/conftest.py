"""Test setup: a private AIRFLOW_HOME (SQLite), the Kling emulator on a free port, connections.

Airflow reads its configuration when first imported, so the environment is set here, before
any test module imports airflow.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"  # copied from shared/fixtures
_HOME = Path(tempfile.mkdtemp(prefix="kling-airflow-home-"))
# One per process: the pytest-xdist controller and each worker import this file. ~14 MB with the DB.
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
_DAGS = _HOME / "dags"
_DAGS.mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The example DAGs poll every [kling] poll_interval seconds; the fast emulator needs less.
        "AIRFLOW__KLING__POLL_INTERVAL": "0.2",
    }
)
os.environ.pop("AIRFLOW_CONN_KLING_DEFAULT", None)

from kling_emulator.server import EmulatorServer  # noqa: E402
from kling_emulator.state import (  # noqa: E402
    DEFAULT_ACCESS_KEY,
    DEFAULT_API_KEY,
    DEFAULT_SECRET_KEY,
    EmulatorConfig,
)


def fast_config(**overrides: object) -> EmulatorConfig:
    config = EmulatorConfig(submitted_seconds=0.1, processing_seconds=0.4)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config()) as server:
        yield server


def conn_json(
    url: str,
    *,
    mode: str = "jwt",
    password: str | None = None,
    login: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A ``kling`` connection as an ``AIRFLOW_CONN_...`` value; ``extra`` e.g. ``{"max_retries": 0}``."""
    conn: dict[str, Any] = {"conn_type": "kling", "host": url}
    if mode == "jwt":
        conn.update(login=login or DEFAULT_ACCESS_KEY, password=password or DEFAULT_SECRET_KEY)
    else:
        conn["password"] = password or DEFAULT_API_KEY
    if extra:
        conn["extra"] = json.dumps(extra)
    return json.dumps(conn)


def use_kling_default(monkeypatch: pytest.MonkeyPatch, url: str, **extra: Any) -> None:
    """Point ``kling_default`` at ``url`` with these HTTP settings in its extra (``max_retries=0``, ...)."""
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(url, extra=extra))


@pytest.fixture
def kling_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``kling_default`` points at the emulator (JWT mode)."""
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url))
    return emulator


@pytest.fixture
def kling_key_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``kling_default`` points at the emulator with an API key (the new design accepts nothing else)."""
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url, mode="key"))
    return emulator


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the SQLite metadata DB once and put the example + test DAGs in the dags folder."""
    for source in [*(REPO / "dags").glob("*.py"), *(REPO / "tests" / "dag_files").glob("*.py")]:
        shutil.copy(source, _DAGS / source.name)
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return _DAGS


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


async def next_event(trigger: Any) -> dict[str, Any]:
    """The payload of the first event a trigger yields (as the triggerer would receive it)."""
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def first_event(trigger: Any) -> dict[str, Any]:
    """Run a trigger on a fresh event loop until its first event."""
    return asyncio.run(next_event(trigger))


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ids of the Kling tasks whose ``KlingTaskTrigger`` really ran (a spy: the trigger runs as is).

    ``dag.test()`` runs a deferred task's trigger in line, so this shows a deferral happened.
    """
    from airflow_provider_kling.triggers.kling import KlingTaskTrigger

    runs: list[str] = []
    original = KlingTaskTrigger.run

    async def run(self: KlingTaskTrigger) -> Any:
        runs.append(self.kling_task_id)
        async for event in original(self):
            yield event

    monkeypatch.setattr(KlingTaskTrigger, "run", run)
    return runs
