"""Save and load the emulator's tasks and counters, so a stopped emulator comes back with its tasks.

Lets a test take "Kling" down for real (the process stops, connections are refused) and bring
it back: tasks keep their ids, external ids and clock-based lifecycle, the run-time settings
(lifecycle seconds, fault rates) stay, and the counters keep counting. The Authorization values
seen and the access keys are not written (they are credentials).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from kling_emulator.app import KlingEmulator
from kling_emulator.state import EmulatedTask
from kling_emulator.stats import Stats

_COUNTERS = ("requests", "submits", "callbacks_sent", "callbacks_failed", "faults", "tasks_failed_by_rate")
_TALLIES = ("by_route", "faults_by_kind", "limit_refusals")
# Settings a test patches at run time (``/_emulator/config``): a restart must not reset them.
_SETTINGS = (
    "submitted_seconds",
    "processing_seconds",
    "max_concurrent_tasks",
    "max_requests_per_second",
    "list_omits_results",
    "seed",
)


def dump(emulator: KlingEmulator) -> dict[str, Any]:
    stats = emulator.stats
    config = emulator.config
    return {
        "config": {
            **{name: getattr(config, name) for name in _SETTINGS},
            "fault_rates": dataclasses.asdict(config.fault_rates),
        },
        "tasks": [dataclasses.asdict(t) for t in emulator.store.tasks.values()],
        "videos": emulator.store.videos,
        "stats": {
            **{name: getattr(stats, name) for name in _COUNTERS},
            **{name: {str(k): v for k, v in getattr(stats, name).items()} for name in _TALLIES},
            "connections": sorted(stats.connections),
        },
    }


def restore(emulator: KlingEmulator, saved: dict[str, Any]) -> None:
    emulator.config.patch(saved["config"])
    for fields in saved["tasks"]:
        emulator.store.add(EmulatedTask(**fields))
    emulator.store.videos.update({str(k): float(v) for k, v in saved["videos"].items()})
    counters = saved["stats"]
    stats: Stats = emulator.stats
    for name in _COUNTERS:
        setattr(stats, name, int(counters[name]))
    for name in _TALLIES:
        key = int if name == "limit_refusals" else str
        setattr(stats, name, defaultdict(int, {key(k): int(v) for k, v in counters[name].items()}))
    stats.connections = {(str(host), int(port)) for host, port in counters["connections"]}


def save(emulator: KlingEmulator, path: str | Path) -> None:
    """Write atomically: a crash mid-write leaves the previous file, never half of one."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(dump(emulator)))
    os.replace(tmp, target)


def load(emulator: KlingEmulator, path: str | Path) -> bool:
    """Restore from ``path`` if it exists; returns whether it did."""
    target = Path(path)
    if not target.exists():
        return False
    restore(emulator, json.loads(target.read_text()))
    return True
