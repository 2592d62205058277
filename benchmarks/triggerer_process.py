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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    BIN,
    Emulator,
    create_tasks,
    emulator,
    machine,
    median,
    percentile,
    stop_process_group,
    table,
)
from benchmarks._triggerer_db import (
    DAG_ID,
    DB_POLL_SECONDS,
    KLING_CONN_ID,
    RUN_ID,
    airflow_home_env,
    open_db,
    prepare_template,
    setup_main,
    wait_triggerer_up,
)
from benchmarks._triggerer_watch import (
    Sampler,
    cpu_seconds,
    runner_child,
    runner_times,
    wait_file,
    write_json,
)

IMPLS = {
    "kling": "KlingTaskTrigger (ours)",
    "floor": "DateTimeTrigger (runner floor)",
}
SUBMITTED_SECONDS = 1.0


# ---------------------------------------------------------------------------- parent


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
        env = airflow_home_env(
            home, fernet_key, select, {f"AIRFLOW_CONN_{KLING_CONN_ID.upper()}": emu.kling_conn()}
        )
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
            wait_file(files["ready"], setup, 300)
            wait_triggerer_up(home, triggerer, 120)
            runner = runner_child(triggerer.pid, 60)
            supervisor = psutil.Process(triggerer.pid)
            time.sleep(1)  # the runner settles (imports done, event loop idle)
            sampler = Sampler(triggerer.pid)
            cold = sampler.sample()
            sampler.start()
            _warm_up(emu, home, task_seconds, files, setup, triggerer)
            time.sleep(1)  # the warm-up wait's cleanup
            warm = sampler.sample()
            cpu0 = cpu_seconds(runner), cpu_seconds(supervisor)
            result = _drive(emu, home, n, task_seconds, files, setup, triggerer, timeout)
            cpu1 = cpu_seconds(runner), cpu_seconds(supervisor)
            sampler.stop.set()
            sampler.join()
        except BaseException:
            err = (tmp / f"triggerer-{impl}.err").read_text(errors="replace")
            print(f"triggerer stderr (tail):\n{err[-3000:]}", file=sys.stderr)
            raise
        finally:
            if sampler is not None:
                sampler.stop.set()
            stop_process_group(triggerer, grace=30)
            if keep is not None:  # the trigger logs and the triggerer's own output, for a post-mortem
                (keep / impl).mkdir(parents=True, exist_ok=True)
                if (home / "logs").exists():
                    shutil.copytree(home / "logs", keep / impl / "logs", dirs_exist_ok=True)
                shutil.copy(tmp / f"triggerer-{impl}.err", keep / impl / "triggerer.err")
            if setup.poll() is None:
                setup.kill()
                setup.wait()
    logged = runner_times(home, result.pop("finish_at"), result.pop("deferred_at"))
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
        **logged,
    }


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
    write_json(files["tasks"], tasks)
    wait_file(files["deferred"], setup, 300)
    deferred_at = json.loads(files["deferred"].read_text())["deferred_at"]
    left: dict[int, float] = {}
    assigned_at: float | None = None
    end = time.monotonic() + timeout
    with open_db(home) as db:
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
    write_json(files["warm"], tasks)
    wait_file(files["warm_deferred"], setup, 120)
    deadline = time.monotonic() + task_seconds + 120
    with open_db(home) as db:
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


def _start_setup(
    env: dict[str, str], impl: str, n: int, poll: float, timeout: float, files: dict[str, Path]
) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--setup", impl, "--n", str(n), "--poll", str(poll)]
    cmd += ["--timeout", str(timeout), "--files", json.dumps({k: str(v) for k, v in files.items()})]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


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
