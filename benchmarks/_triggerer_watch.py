"""The real-triggerer benchmark's measurements: RSS and CPU of the triggerer's processes, its logs.

Used by ``benchmarks/triggerer_process.py``: ``Sampler`` samples the supervisor and its
trigger-runner child every 0.5 s, ``runner_times`` reads when the runner started and fired each
trigger from the per-trigger log files.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._common import median
from benchmarks._triggerer_db import DAG_ID, RUN_ID

SAMPLE_SECONDS = 0.5


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


def runner_child(pid: int, timeout: float) -> Any:
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


def runner_times(home: Path, finish_at: list[float], deferred_at: float) -> dict[str, float]:
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


def cpu_seconds(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def wait_file(path: Path, proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"setup child exited {proc.returncode}:\n{str(err)[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {path.name}")
        time.sleep(0.05)


def write_json(path: Path, data: Any) -> None:
    tmp_file = path.with_suffix(".tmp")
    tmp_file.write_text(json.dumps(data))
    tmp_file.rename(path)
