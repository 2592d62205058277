"""The real-triggerer benchmark's Airflow side: its home and database, the DAG run, the deferral.

``prepare_template`` migrates a SQLite database and serializes a tiny DAG once; ``setup_main`` runs
in a child process with Airflow's ORM: it creates the DAG run and, when the parent has created
the Kling tasks, defers the task instances on real ``Trigger`` rows (``_defer``), as the
execution API's defer route does. Used by ``benchmarks/triggerer_process.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._common import BIN, airflow_env

KLING_CONN_ID = "kling_bench"
DAG_ID = "kling_triggerer_process"
RUN_ID = "kling_triggerer_process_run"
DB_POLL_SECONDS = 0.5
DAG_FILE = '''"""One mapped task expanded {n} times (the deferred waits) and a warm-up task."""

from airflow.sdk import DAG, task

with DAG("{dag_id}", schedule=None, catchup=False):

    @task
    def wait(i: int) -> None:
        """Never run here: no scheduler runs; the benchmark defers its task instances."""

    wait.override(task_id="warm_up")(-1)
    wait.expand(i=list(range({n})))
'''


def airflow_home_env(
    home: Path, fernet_key: str, select_per_loop: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = airflow_env(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            # Airflow's default level: every trigger's start, progress and event lines are paid for.
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": str(select_per_loop),
        }
    )
    env.update(extra or {})
    return env


def prepare_template(tmp: Path, n: int, fernet_key: str, select_per_loop: int) -> Path:
    """Migrate a SQLite DB and serialize the DAG once; each row starts from a copy of that DB."""
    home = tmp / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG_FILE.format(n=n, dag_id=DAG_ID))
    env = airflow_home_env(home, fernet_key, select_per_loop)
    for cmd in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run(
            [str(BIN / "airflow"), *cmd], env=env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
    template = tmp / "template.db"
    shutil.copyfile(home / "airflow.db", template)
    return template


@contextmanager
def open_db(home: Path) -> Iterator[sqlite3.Connection]:
    """A plain reader connection (read-only mode cannot open a WAL database whose -shm is gone)."""
    db = sqlite3.connect(home / "airflow.db", timeout=30, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def setup_main(args: argparse.Namespace) -> None:
    """Create the DAG run (N + 1 task instances); defer the warm-up, then all N at once."""
    from datetime import datetime, timezone

    from airflow.models.dagbag import DBDagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import func, select

    files = {k: Path(v) for k, v in json.loads(args.files).items()}
    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
        if dag is None:
            raise SystemExit(f"DAG {DAG_ID} is not serialized")
        dag.create_dagrun(
            run_id=RUN_ID,
            run_after=datetime.now(timezone.utc),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
    with create_session() as session:
        count = session.scalar(
            select(func.count()).where(TaskInstance.run_id == RUN_ID, TaskInstance.task_id == "wait")
        )
    if count != args.n:
        raise SystemExit(f"the DAG run has {count} mapped task instances, expected {args.n}")
    if args.setup == "kling":
        import airflow_provider_kling.triggers.kling  # noqa: F401 - imported before the clock starts
    else:
        import airflow.providers.standard.triggers.temporal  # noqa: F401
    files["ready"].touch()
    warm = _read_when_there(files["warm"])
    _defer("warm_up", _triggers(args.setup, warm, args.poll, args.timeout), args.timeout)
    files["warm_deferred"].touch()
    tasks = _read_when_there(files["tasks"])
    _defer("wait", _triggers(args.setup, tasks, args.poll, args.timeout), args.timeout)
    files["deferred"].write_text(json.dumps({"deferred_at": time.time()}))


def _read_when_there(path: Path) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 300
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path.name}")
        time.sleep(0.02)
    data: list[dict[str, Any]] = json.loads(path.read_text())
    return data


def _defer(task_id: str, triggers: list[Any], timeout: float) -> None:
    """In one transaction: a Trigger row per trigger, its task instance deferred on it."""
    from datetime import datetime, timedelta, timezone

    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        rows = [Trigger.from_object(trigger) for trigger in triggers]
        session.add_all(rows)
        session.flush()
        trigger_timeout = datetime.now(timezone.utc) + timedelta(seconds=timeout)
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == RUN_ID, TaskInstance.task_id == task_id
            )
        ).all()
        for ti in tis:  # as the execution API's defer route fills them in
            ti.state = TaskInstanceState.DEFERRED
            ti.trigger_id = rows[max(ti.map_index, 0)].id
            ti.next_method = "execute_complete"
            ti.next_kwargs = None
            ti.trigger_timeout = trigger_timeout


def _triggers(impl: str, tasks: list[dict[str, Any]], poll: float, timeout: float) -> list[Any]:
    from datetime import datetime, timezone

    if impl == "floor":
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        return [
            DateTimeTrigger(moment=datetime.fromtimestamp(t["finish_at"], tz=timezone.utc)) for t in tasks
        ]
    from airflow_provider_kling.triggers.kling import KlingTaskTrigger

    deadline = time.time() + timeout
    return [
        KlingTaskTrigger(
            kling_task_id=t["id"],
            task_kind="video-to-audio",
            kling_conn_id=KLING_CONN_ID,
            poll_interval=poll,
            deadline=deadline,
            last_status="submitted",
        )
        for t in tasks
    ]


def wait_triggerer_up(home: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the TriggererJob row heartbeats (its supervisor loop runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow triggerer exited {proc.returncode}")
        with open_db(home) as db:
            rows = db.execute(
                "SELECT count(*) FROM job WHERE job_type = 'TriggererJob' AND state = 'running'"
            ).fetchone()
        if rows[0]:
            return
        time.sleep(0.2)
    raise RuntimeError("airflow triggerer did not start")
