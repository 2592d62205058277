"""The progress line in the task log while a Kling task runs: one per status change, and a heartbeat."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_kling.api.tasks import KlingTask

if TYPE_CHECKING:
    pass
# A progress line this often even when the status does not change.
HEARTBEAT_SECONDS = 60.0


@dataclass(slots=True)
class WaitProgress:
    """Remembers what the user has been told; produces one log line per status change."""

    task_kind: str
    ident: str
    last_status: str | None = None
    started: float = field(default_factory=time.monotonic)
    last_logged: float = field(default_factory=time.monotonic)
    heartbeat: float = HEARTBEAT_SECONDS  # seconds between "still <status>" lines

    @property
    def next_heartbeat(self) -> float:
        """Monotonic time of the next "still <status>" line if the status does not change."""
        return self.last_logged + self.heartbeat

    def observe(self, task: KlingTask) -> str | None:
        now = time.monotonic()
        status = task.task_status.value
        if status != self.last_status:
            before = self.last_status
            self.last_status = status
            self.last_logged = now
            change = f"{before} -> {status}" if before else status
            return f"Kling {self.task_kind} task {task.task_id}: {change} (waited {now - self.started:.0f}s)"
        if now - self.last_logged >= self.heartbeat:
            self.last_logged = now
            waited = now - self.started
            return f"Kling {self.task_kind} task {task.task_id}: still {status} (waited {waited:.0f}s)"
        return None
