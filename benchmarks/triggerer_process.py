"""N Kling waits (default 5,000) in a REAL ``airflow triggerer --capacity N`` process with its database.

Per row (ours, then the runner floor) the script starts a fresh ``kling-emulator`` and a fresh
SQLite metadata database (migrated once per invocation with ``airflow db migrate``, the tiny DAG
serialized with ``airflow dags reserialize``, then copied per row), creates one DAG run of a
mapped task expanded N times (map_index 0..N-1; no scheduler runs, so nothing executes them),
then starts ``airflow triggerer --capacity N --skip-serve-logs`` as a subprocess and samples the
RSS of its supervisor and of its trigger-runner child every 0.5 s. Once the runner is idle, the
N tasks are created on the emulator (all finish T seconds later) and, in one transaction, N
``Trigger`` rows are added with ``Trigger.from_object`` (kwargs Fernet-encrypted as the real
path does) and the N task instances are put into ``deferred`` with ``trigger_id``,
``next_method="execute_complete"`` and ``trigger_timeout``, as the execution API's defer route
fills them in. The triggerer does the rest: it claims the rows, runs the triggers, and on each
event moves the task instance to ``scheduled``.

Before the N waits, one whole warm-up wait of the same class runs (its first use: imports,
shared session, poller), so the rows measure waits, not first use (printed apart).

Reported: RSS growth (peak over the baseline after the warm-up) of the supervisor, the runner
and their sum; CPU seconds of the runner and the supervisor over the run; Kling requests (and by
route) and requests per wait-round (requests / (T / poll)); how long the triggerer took to claim
all N rows (DB) and to start all N triggers in its runner (each trigger's log file: its
"starting" line); when the runner fired each event (its "Trigger fired event" line) minus the
task's finish time; and detection (task instance seen out of ``deferred`` in a DB poll every
0.5 s, minus the task's finish time: the poll adds up to 0.5 s; minus the runner's figure, it is
the supervisor's lag in persisting events). The floor row runs ``DateTimeTrigger`` firing at each
task's finish time: the same process with the same N triggers that only sleep.

    python benchmarks/triggerer_process.py                        # N = 5000, T = 30 s, poll 5 s
    python benchmarks/triggerer_process.py --n 20 --task-seconds 3 --poll 1   # smoke (< 1 min)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    BIN,
    Emulator,
    airflow_env,
    create_tasks,
    emulator,
    machine,
    median,
    percentile,
    table,
)

IMPLS = {
    "kling": "KlingTaskTrigger (ours)",
    "floor": "DateTimeTrigger (runner floor)",
}
SUBMITTED_SECONDS = 1.0
KLING_CONN_ID = "kling_bench"
DAG_ID = "kling_triggerer_process"
RUN_ID = "kling_triggerer_process_run"
SAMPLE_SECONDS = 0.5
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


# ---------------------------------------------------------------------------- parent


def _env(
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
    env = _env(home, fernet_key, select_per_loop)
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


class Sampler(threading.Thread):
    """RSS of the triggerer's supervisor and its child processes, every 0.5 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.supervisor = psutil.Process(pid)
        self.samples: list[tuple[float, int, int, int]] = []  # (time, supervisor, runner, children)
        self.stop = threading.Event()

    def sample(self) -> tuple[float, int, int, int]:
        import psutil

        sup = self.supervisor.memory_info().rss
        runner = children = 0
        for child in self.supervisor.children(recursive=True):
            try:
                rss = child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            children += 1
            runner += rss
        return time.time(), sup, runner, children

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append(self.sample())
            except Exception:  # the triggerer exited; the parent notices
                return
            self.stop.wait(SAMPLE_SECONDS)


def _runner(pid: int, timeout: float) -> Any:
    """The trigger-runner child of the supervisor (its only child with --skip-serve-logs)."""
    import psutil

    supervisor = psutil.Process(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = supervisor.children()
        if len(children) == 1:
            return children[0]
        if len(children) > 1:
            names = [" ".join(c.cmdline())[:80] for c in children]
            raise RuntimeError(f"expected one trigger-runner child, found {names}")
        time.sleep(0.1)
    raise RuntimeError("the triggerer started no trigger-runner child")


@contextmanager
def _db(home: Path) -> Iterator[sqlite3.Connection]:
    """A plain reader connection (read-only mode cannot open a WAL database whose -shm is gone)."""
    db = sqlite3.connect(home / "airflow.db", timeout=30, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def _wait_triggerer_up(home: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the TriggererJob row heartbeats (its supervisor loop runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow triggerer exited {proc.returncode}")
        with _db(home) as db:
            rows = db.execute(
                "SELECT count(*) FROM job WHERE job_type = 'TriggererJob' AND state = 'running'"
            ).fetchone()
        if rows[0]:
            return
        time.sleep(0.2)
    raise RuntimeError("airflow triggerer did not start")


def run_one(
    impl: str,
    n: int,
    task_seconds: float,
    poll: float,
    tmp: Path,
    template: Path,
    fernet_key: str,
    select: int,
    keep: Path | None = None,
) -> dict[str, Any]:
    import psutil

    processing = task_seconds - SUBMITTED_SECONDS
    timeout = task_seconds + 6 * poll + 90 + n / 25
    home = tmp / "home"
    shutil.rmtree(home / "logs", ignore_errors=True)
    for suffix in ("-wal", "-shm", "-journal"):  # a WAL left by the previous row would be replayed
        (home / f"airflow.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, home / "airflow.db.new")
    (home / "airflow.db.new").rename(home / "airflow.db")
    with emulator(SUBMITTED_SECONDS, processing) as emu:
        env = _env(home, fernet_key, select, {f"AIRFLOW_CONN_{KLING_CONN_ID.upper()}": emu.kling_conn()})
        files = {
            name: tmp / f"{name}.json" for name in ("ready", "warm", "warm_deferred", "tasks", "deferred")
        }
        for f in files.values():
            f.unlink(missing_ok=True)
        setup = _start_setup(env, impl, n, poll, timeout, files)
        triggerer = subprocess.Popen(
            [str(BIN / "airflow"), "triggerer", "--capacity", str(n), "--skip-serve-logs"],
            env=env,
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / f"triggerer-{impl}.err", "wb"),  # noqa: SIM115 - closed with the process
            start_new_session=True,
        )
        sampler: Sampler | None = None
        try:
            _wait_file(files["ready"], setup, 300)
            _wait_triggerer_up(home, triggerer, 120)
            runner = _runner(triggerer.pid, 60)
            supervisor = psutil.Process(triggerer.pid)
            time.sleep(1)  # the runner settles (imports done, event loop idle)
            sampler = Sampler(triggerer.pid)
            cold = sampler.sample()
            sampler.start()
            _warm_up(emu, home, task_seconds, files, setup, triggerer)
            time.sleep(1)  # the warm-up wait's cleanup
            warm = sampler.sample()
            cpu0 = _cpu(runner), _cpu(supervisor)
            result = _drive(emu, home, n, task_seconds, files, setup, triggerer, timeout)
            cpu1 = _cpu(runner), _cpu(supervisor)
            sampler.stop.set()
            sampler.join()
        except BaseException:
            err = (tmp / f"triggerer-{impl}.err").read_text(errors="replace")
            print(f"triggerer stderr (tail):\n{err[-3000:]}", file=sys.stderr)
            raise
        finally:
            if sampler is not None:
                sampler.stop.set()
            _stop(triggerer)
            if keep is not None:  # the trigger logs and the triggerer's own output, for a post-mortem
                (keep / impl).mkdir(parents=True, exist_ok=True)
                if (home / "logs").exists():
                    shutil.copytree(home / "logs", keep / impl / "logs", dirs_exist_ok=True)
                shutil.copy(tmp / f"triggerer-{impl}.err", keep / impl / "triggerer.err")
            if setup.poll() is None:
                setup.kill()
                setup.wait()
    runner_times = _runner_times(home, result.pop("finish_at"), result.pop("deferred_at"))
    peak_sup = max(s[1] for s in sampler.samples)
    peak_runner = max(s[2] for s in sampler.samples)
    peak_sum = max(s[1] + s[2] for s in sampler.samples)
    rounds = max(1.0, task_seconds / poll)
    latencies = result["latencies"]
    return {
        "impl": impl,
        "n": n,
        **{k: v for k, v in result.items() if k != "latencies"},
        "rss_sup_mb": (peak_sup - warm[1]) / 1024**2,
        "rss_runner_mb": (peak_runner - warm[2]) / 1024**2,
        "rss_sum_mb": (peak_sum - warm[1] - warm[2]) / 1024**2,
        "rss_cold_sum_mb": (peak_sum - cold[1] - cold[2]) / 1024**2,
        "rss_warm_up_mb": (warm[1] + warm[2] - cold[1] - cold[2]) / 1024**2,
        "rss_base_mb": (cold[1] + cold[2]) / 1024**2,
        "cpu_runner_s": cpu1[0] - cpu0[0],
        "cpu_sup_s": cpu1[1] - cpu0[1],
        "req_per_round": result["requests"] / rounds,
        "lat_p50": median(latencies),
        "lat_p95": percentile(latencies, 0.95),
        "lat_max": max(latencies) if latencies else float("nan"),
        **runner_times,
    }


def _runner_times(home: Path, finish_at: list[float], deferred_at: float) -> dict[str, float]:
    """From each trigger's log file: when the runner started it and when it fired, as the runner saw.

    The triggerer writes one JSON-lines log file per trigger (its supervisor, from the runner's
    lines): "trigger ... starting" and "Trigger fired event" carry the runner's timestamps.
    """
    from datetime import datetime

    started: list[float] = []
    fired: list[float] = []
    pattern = f"dag_id={DAG_ID}/run_id={RUN_ID}/task_id=wait/map_index=*/*.trigger.*.log"
    for path in (home / "logs").glob(pattern):
        index = int(path.parent.name.removeprefix("map_index="))
        for line in path.read_text(errors="replace").splitlines():
            if "starting" not in line and "Trigger fired event" not in line:
                continue
            try:
                entry = json.loads(line)
                stamp = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            event = str(entry.get("event", ""))
            if event.startswith("trigger ") and event.endswith(") starting"):  # "... (ID 7) starting"
                started.append(stamp)
            elif event == "Trigger fired event":
                fired.append(stamp - finish_at[index])
    nan = float("nan")
    return {
        "started": len(started),
        "start_first_s": (min(started) - deferred_at) if started else nan,
        "start_all_s": (max(started) - deferred_at) if started else nan,
        "runner_fired": len(fired),
        "runner_lat_p50": median(fired),
        "runner_lat_max": max(fired) if fired else nan,
    }


def _cpu(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _wait_file(path: Path, proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"setup child exited {proc.returncode}:\n{str(err)[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {path.name}")
        time.sleep(0.05)


def _drive(
    emu: Emulator,
    home: Path,
    n: int,
    task_seconds: float,
    files: dict[str, Path],
    setup: subprocess.Popen[str],
    triggerer: subprocess.Popen[bytes],
    timeout: float,
) -> dict[str, Any]:
    """Create the Kling tasks, let the setup child defer the TIs, poll the DB until all left deferred."""
    tasks = asyncio.run(create_tasks(emu.url, n, f"proc-{os.getpid()}-{time.time_ns()}"))
    for task in tasks:
        task["finish_at"] = task["created"] + task_seconds
    before = emu.stats()
    _write(files["tasks"], tasks)
    _wait_file(files["deferred"], setup, 300)
    deferred_at = json.loads(files["deferred"].read_text())["deferred_at"]
    left: dict[int, float] = {}
    assigned_at: float | None = None
    end = time.monotonic() + timeout
    with _db(home) as db:
        while len(left) < n and time.monotonic() < end:
            if triggerer.poll() is not None:
                raise RuntimeError(f"airflow triggerer exited {triggerer.returncode}")
            now = time.time()
            rows = db.execute(
                "SELECT map_index FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = 'wait' "
                "AND state != 'deferred'",
                (DAG_ID, RUN_ID),
            ).fetchall()
            for (index,) in rows:
                left.setdefault(index, now)
            if assigned_at is None:
                (unassigned,) = db.execute(
                    "SELECT count(*) FROM trigger WHERE triggerer_id IS NULL"
                ).fetchone()
                if unassigned == 0:
                    assigned_at = now
            time.sleep(DB_POLL_SECONDS)
        states = db.execute(
            "SELECT state, next_method, next_kwargs FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND task_id = 'wait'",
            (DAG_ID, RUN_ID),
        ).fetchall()
    after = emu.stats()
    ok = sum(
        1
        for state, method, kwargs in states
        if state == "scheduled"
        and method == "execute_complete"
        and "failed" not in str(kwargs)
        and "timeout" not in str(kwargs)
        and "error" not in str(kwargs)
    )
    first_finish = min(t["finish_at"] for t in tasks)
    routes = {
        route: count - before["by_route"].get(route, 0)
        for route, count in after["by_route"].items()
        if count != before["by_route"].get(route, 0) and "_emulator" not in route
    }
    return {
        "fired": len(left),
        "ok": ok,
        "requests": after["requests"] - before["requests"] - 1,  # minus the stats read itself
        "by_route": routes,
        "latencies": [left[i] - tasks[i]["finish_at"] for i in left],
        "finish_at": [t["finish_at"] for t in tasks],
        "deferred_at": deferred_at,
        "claim_s": (assigned_at - deferred_at) if assigned_at is not None else float("nan"),
        "defer_after_create_s": deferred_at - (first_finish - task_seconds),
        "wall_s": (max(left.values()) - deferred_at) if left else float("nan"),
    }


def _write(path: Path, data: Any) -> None:
    tmp_file = path.with_suffix(".tmp")
    tmp_file.write_text(json.dumps(data))
    tmp_file.rename(path)


def _warm_up(
    emu: Emulator,
    home: Path,
    task_seconds: float,
    files: dict[str, Path],
    setup: subprocess.Popen[str],
    triggerer: subprocess.Popen[bytes],
) -> None:
    """One whole wait of the same class first, so the rows measure waits, not first use of the class.

    Ours waits for a real emulator task until it finishes (imports, shared session, poller, parse
    of a finished task, event); the floor sleeps as long.
    """
    tasks = asyncio.run(create_tasks(emu.url, 1, f"warm-{os.getpid()}-{time.time_ns()}"))
    tasks[0]["finish_at"] = tasks[0]["created"] + task_seconds
    _write(files["warm"], tasks)
    _wait_file(files["warm_deferred"], setup, 120)
    deadline = time.monotonic() + task_seconds + 120
    with _db(home) as db:
        while time.monotonic() < deadline:
            if triggerer.poll() is not None:
                raise RuntimeError(f"airflow triggerer exited {triggerer.returncode}")
            (state,) = db.execute(
                "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = 'warm_up'",
                (DAG_ID, RUN_ID),
            ).fetchone()
            if state != "deferred":
                return
            time.sleep(DB_POLL_SECONDS)
    raise RuntimeError("the warm-up wait did not fire")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _start_setup(
    env: dict[str, str], impl: str, n: int, poll: float, timeout: float, files: dict[str, Path]
) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--setup", impl, "--n", str(n), "--poll", str(poll)]
    cmd += ["--timeout", str(timeout), "--files", json.dumps({k: str(v) for k, v in files.items()})]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# ---------------------------------------------------------------------------- setup child


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


# ---------------------------------------------------------------------------- report


def report(results: list[dict[str, Any]], select: int) -> None:
    rows = [
        [
            IMPLS[r["impl"]],
            r["n"],
            f"{r['ok']}/{r['n']}",
            r["rss_sup_mb"],
            r["rss_runner_mb"],
            r["rss_sum_mb"],
            r["cpu_runner_s"],
            r["cpu_sup_s"],
            r["requests"],
            r["req_per_round"],
            r["claim_s"],
            r["start_all_s"],
            r["runner_lat_p50"],
            r["runner_lat_max"],
            r["lat_p50"],
            r["lat_p95"],
            r["lat_max"],
        ]
        for r in results
    ]
    headers = ["trigger", "N", "fired ok", "RSS +MB supervisor", "RSS +MB runner", "RSS +MB sum"]
    headers += ["CPU s runner", "CPU s supervisor", "Kling requests", "requests/round", "claim all s"]
    headers += ["all started s", "fired (runner) p50 s", "fired (runner) max s"]
    headers += ["detect (DB) p50 s", "detect (DB) p95 s", "detect (DB) max s"]
    print(table(headers, rows))
    print()
    by_impl = {r["impl"]: r for r in results}
    ours, floor = by_impl.get("kling"), by_impl.get("floor")
    if ours is not None and floor is not None:
        diff = [
            "ours - floor",
            ours["n"],
            "-",
            ours["rss_sup_mb"] - floor["rss_sup_mb"],
            ours["rss_runner_mb"] - floor["rss_runner_mb"],
            ours["rss_sum_mb"] - floor["rss_sum_mb"],
            ours["cpu_runner_s"] - floor["cpu_runner_s"],
            ours["cpu_sup_s"] - floor["cpu_sup_s"],
        ]
        print(table(headers[:8], [diff]))
        print()
    for r in results:
        print(
            f"{IMPLS[r['impl']]} N={r['n']}: RSS (supervisor + idle runner) {r['rss_base_mb']:.1f} MB before "
            f"the warm-up wait, +{r['rss_warm_up_mb']:.1f} MB after it (first use of the trigger class), "
            f"peak +{r['rss_cold_sum_mb']:.1f} MB over the cold process; "
            f"deferred {r['defer_after_create_s']:.1f}s after the first task was created; "
            f"all {r['fired']} left deferred {r['wall_s']:.1f}s after the commit; "
            f"the runner started its first trigger {r['start_first_s']:.1f}s after the commit "
            f"({r['started']} start and {r['runner_fired']} fired lines in the trigger logs); "
            f"max_trigger_to_select_per_loop={select}; "
            f"detection includes a DB poll of up to {DB_POLL_SECONDS}s"
        )
        if r["by_route"]:
            print(f"  Kling requests by route: {json.dumps(r['by_route'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--n", type=int, default=5000, help="waits on the one triggerer (also its --capacity)"
    )
    parser.add_argument("--task-seconds", type=float, default=30.0, help="emulated task duration")
    parser.add_argument("--poll", type=float, default=5.0, help="poll interval of our trigger")
    parser.add_argument("--impl", default="kling,floor", help="which rows to run")
    parser.add_argument(
        "--select-per-loop",
        type=int,
        default=0,
        help="[triggerer] max_trigger_to_select_per_loop (0: N, one triggerer claims all in one loop; "
        "Airflow's default is 50, i.e. 50 claims per ~1 s loop)",
    )
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument("--keep", default=None, help="copy each row's trigger logs and triggerer output here")
    parser.add_argument("--setup", choices=sorted(IMPLS), help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup_main(args)
        return
    if args.task_seconds <= SUBMITTED_SECONDS:
        parser.error(f"--task-seconds must be > {SUBMITTED_SECONDS}")
    from cryptography.fernet import Fernet

    select = args.select_per_loop or args.n
    print(machine())
    print(
        f"triggerer process: {args.n} waits in `airflow triggerer --capacity {args.n}` "
        "(SQLite DB, no scheduler), "
        f"tasks finish {args.task_seconds:.0f}s after creation, poll {args.poll:.1f}s, "
        "fresh emulator, DB and triggerer per row"
    )
    print()
    fernet_key = Fernet.generate_key().decode()
    keep = Path(args.keep) if args.keep else None
    results = []
    with tempfile.TemporaryDirectory(prefix="kling-trigproc-") as tmp_name:
        tmp = Path(tmp_name)
        template = prepare_template(tmp, args.n, fernet_key, select)
        for impl in args.impl.split(","):
            results.append(
                run_one(impl, args.n, args.task_seconds, args.poll, tmp, template, fernet_key, select, keep)
            )
            r = results[-1]
            print(
                f"  ran {IMPLS[impl]}: {r['ok']}/{args.n} fired ok, runner CPU {r['cpu_runner_s']:.2f}s",
                flush=True,
            )
    print()
    report(results, select)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
