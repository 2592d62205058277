"""What the emulator counts for tests and benchmarks: requests, submits, refusals, peak parallel tasks."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class Stats:
    """What benchmarks and tests read back: requests, TCP connections, tasks created."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_route: dict[str, int] = defaultdict(int)
        self.connections: set[tuple[str, int]] = set()
        self.submits = 0
        self.callbacks_sent = 0
        self.callbacks_failed = 0
        self.faults = 0
        self.faults_by_kind: dict[str, int] = defaultdict(int)
        self.tasks_failed_by_rate = 0
        # Refusals by the configured limits (not injected faults): {1302: n, 1303: n}.
        self.limit_refusals: dict[int, int] = defaultdict(int)
        # The most parallel-task slots of one pack type one account held (submitted or processing) at once.
        self.peak_running = 0
        # Every Authorization value received: lets a test check the JWT it issued never leaked.
        # Kept in memory only; ``as_dict`` (served over HTTP) reports just how many.
        self.authorizations: set[str] = set()

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_route": dict(self.by_route),
            "connections": len(self.connections),
            "submits": self.submits,
            "callbacks_sent": self.callbacks_sent,
            "callbacks_failed": self.callbacks_failed,
            "faults": self.faults,
            "faults_by_kind": dict(self.faults_by_kind),
            "tasks_failed_by_rate": self.tasks_failed_by_rate,
            "limit_refusals": dict(self.limit_refusals),
            "peak_running": self.peak_running,
            "distinct_authorizations": len(self.authorizations),
        }
