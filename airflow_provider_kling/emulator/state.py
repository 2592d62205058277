"""The emulator's configuration and task store: the Kling task lifecycle, by the clock."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ACCESS_KEY = "emulator-access-key"
DEFAULT_SECRET_KEY = "emulator-secret-key-0123456789abcdef"
DEFAULT_API_KEY = "emulator-api-key"

# A video the emulator "generated" before it started: lets a DAG use video_id right away.
SAMPLE_VIDEO_ID = "825406034503692376"
SAMPLE_VIDEO_SECONDS = 5.1


@dataclass
class Fault:
    """One scripted misbehaviour, applied to the next ``times`` matching API requests.

    ``action``: ``error`` (answer Kling ``code``), ``body`` (answer ``body`` raw with
    ``http_status``), ``reset_before`` (drop the connection without handling the request),
    ``reset_after`` (handle it, e.g. create the task, then drop the connection), ``slow``
    (sleep ``delay`` seconds, then handle it).
    """

    action: str = "error"
    code: int = 5000
    http_status: int | None = None
    body: str = ""
    delay: float = 0.0
    method: str | None = None  # "POST" to hit submits only, "GET" for reads
    times: int = 1


@dataclass
class EmulatorConfig:
    """Everything a test or a developer may want to tune. Mutable while the server runs."""

    access_keys: dict[str, str] = field(default_factory=lambda: {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY})
    api_keys: set[str] = field(default_factory=lambda: {DEFAULT_API_KEY})
    prefix: str = ""
    # Lifecycle: submitted for this long, then processing for this long, then succeed/failed.
    submitted_seconds: float = 0.2
    processing_seconds: float = 1.0
    # A prompt containing this marker makes the task fail with a status message.
    fail_marker: str = "[fail]"
    fail_message: str = "Emulated failure: the prompt asked for it"
    # Limits: parallel (non-terminal) tasks per key -> 1303; requests per second per key -> 1302.
    max_concurrent_tasks: int | None = None
    max_requests_per_second: float | None = None
    # Video-to-audio source video rules (contract): 3.0-20.0 s.
    min_video_seconds: float = 3.0
    max_video_seconds: float = 20.0
    # Scripted faults, consumed in order by matching requests.
    faults: list[Fault] = field(default_factory=list)

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (None, method):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def patch(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise KeyError(key)
            if key == "api_keys":
                value = set(value)
            if key == "faults":
                value = [Fault(**f) for f in value]
            setattr(self, key, value)


@dataclass
class EmulatedTask:
    task_id: str
    kind: str
    owner: str
    external_task_id: str
    request: dict[str, Any]
    created: float
    duration: float
    fail_message: str | None = None
    callback_url: str | None = None
    video_ids: list[str] = field(default_factory=list)
    audio_ids: list[str] = field(default_factory=list)

    def status(self, config: EmulatorConfig, now: float | None = None) -> str:
        age = (now if now is not None else time.time()) - self.created
        if age < config.submitted_seconds:
            return "submitted"
        if age < config.submitted_seconds + config.processing_seconds:
            return "processing"
        return "failed" if self.fail_message else "succeed"

    def finishes_at(self, config: EmulatorConfig) -> float:
        return self.created + config.submitted_seconds + config.processing_seconds


class TaskStore:
    """All tasks, by id, with lookup by (owner, external_task_id)."""

    def __init__(self) -> None:
        self.tasks: dict[str, EmulatedTask] = {}
        self.by_external: dict[tuple[str, str], str] = {}
        # Durations of the videos this emulator generated (video-to-audio checks video_id here).
        self.videos: dict[str, float] = {SAMPLE_VIDEO_ID: SAMPLE_VIDEO_SECONDS}
        self._ids = itertools.count(int(time.time() * 1000) * 1000)

    def new_id(self) -> str:
        return str(next(self._ids))

    def add(self, task: EmulatedTask) -> None:
        self.tasks[task.task_id] = task
        if task.external_task_id:
            self.by_external[(task.owner, task.external_task_id)] = task.task_id

    def find(self, owner: str, ident: str, kind: str) -> EmulatedTask | None:
        task = self.tasks.get(ident)
        if task is None:
            task_id = self.by_external.get((owner, ident))
            task = self.tasks.get(task_id) if task_id else None
        if task is None or task.owner != owner or task.kind != kind:
            return None
        return task

    def list(self, owner: str, kind: str) -> list[EmulatedTask]:
        mine = [t for t in self.tasks.values() if t.owner == owner and t.kind == kind]
        return sorted(mine, key=lambda t: t.created, reverse=True)

    def running(self, owner: str, config: EmulatorConfig) -> int:
        now = time.time()
        return sum(
            1
            for t in self.tasks.values()
            if t.owner == owner and t.status(config, now) in ("submitted", "processing")
        )
