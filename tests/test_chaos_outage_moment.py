"""The chaos run's Kling outage starts only while waits are deferred (benchmarks/chaos_run.py).

An outage that hits no deferred wait proves nothing about them: the run waits (bounded) for
deferred task instances and refuses to start the outage on none. Fast: no stack, a fake count,
zero-second intervals (the chaos run itself is ``pytest -m chaos tests/stack``).
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.chaos_run import kling_outage, wait_for_deferred_waits


def counts(*values: int | Exception) -> Any:
    """A count that answers ``values`` in turn (an exception is raised), then the last one forever."""
    answers = list(values)

    def count() -> int:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return count


def test_waits_until_the_wanted_number_of_waits_is_deferred() -> None:
    assert wait_for_deferred_waits(counts(0, 1, 2, 4), want=3, timeout=3600, interval=0) == 4


def test_fewer_than_wanted_will_do_once_the_wait_is_over() -> None:
    assert wait_for_deferred_waits(counts(2), want=8, timeout=0, interval=0) == 2


def test_no_deferred_wait_at_the_deadline_is_a_clear_failure() -> None:
    with pytest.raises(RuntimeError, match=r"Kling outage not started: no task instance was deferred"):
        wait_for_deferred_waits(counts(0), want=8, timeout=0, interval=0)


def test_api_errors_are_retried_and_named_when_nothing_was_seen() -> None:
    assert wait_for_deferred_waits(counts(OSError("restarting"), 1), want=1, timeout=3600, interval=0) == 1
    with pytest.raises(RuntimeError, match="connection refused"):
        wait_for_deferred_waits(counts(OSError("connection refused")), want=1, timeout=0, interval=0)


class FakeStack:
    """The slice of ``benchmarks._stack.Stack`` the outage uses; records what it was asked to do."""

    def __init__(self, states: list[str]) -> None:
        self.states = states
        self.stopped: list[str] = []

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return [{"task_id": f"t{i}", "state": state} for i, state in enumerate(self.states)]

    def emulator(self, method: str, path: str) -> dict[str, Any]:
        return {"tasks": 3}

    def stop(self, component: str) -> None:
        self.stopped.append(component)

    def up(self) -> None:
        pass


def test_the_outage_is_not_started_when_no_wait_is_deferred() -> None:
    stack = FakeStack(["success", "running", "queued"])
    with pytest.raises(RuntimeError, match="no task instance was deferred"):
        kling_outage(stack, 0, ["run_1"], waits=8, say=print, wait_timeout=0)  # type: ignore[arg-type]
    assert stack.stopped == [], "the emulator was stopped although no wait was deferred"


def test_the_outage_reports_the_deferred_waits_it_hit() -> None:
    stack = FakeStack(["deferred", "running", "deferred"])
    said: list[str] = []
    report = kling_outage(stack, 0, ["run_1", "run_2"], waits=4, say=said.append)  # type: ignore[arg-type]
    assert stack.stopped == ["emulator-1"]
    assert report["deferred_at_start"] == 4  # two deferred in each of the two runs
    assert "(4 waits deferred)" in said[0]
