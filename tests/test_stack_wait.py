"""``wait_until`` of the local Airflow stack (tests/ui/stack.py): a dead component fails the wait at once.

The browser check and the real-Airflow tests wait minutes for runs; a crashed scheduler must
show up as that crash (with the end of its log), not as a timeout after the whole wait. These
tests run in the default suite: no Airflow process, no browser, and ``time.sleep`` is recorded
instead of slept, so "at once" means "before the first sleep", not a measured duration.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.ui import stack as stack_module
from tests.ui.stack import ComponentDied, Stack, wait_until


class FakeClock:
    """stack.py's view of ``time``: sleeps are recorded and advance a fake monotonic clock, so a
    wait that does not stop early ends by its own timeout in microseconds, never hangs."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    # Only stack.py's `time` (subprocess and pytest keep the real one).
    monkeypatch.setattr(stack_module, "time", fake)
    return fake


@pytest.fixture
def sleeps(clock: FakeClock) -> list[float]:
    """Every sleep ``wait_until`` asked for."""
    return clock.sleeps


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    # No stop(): the only processes these tests start have exited and been reaped already.
    return Stack(home=tmp_path)


def dead_component(stack: Stack, name: str, output: str, code: int) -> None:
    """Start ``name`` as a process that prints ``output`` and exits with ``code``; wait for its exit."""
    script = f"import sys; print({output!r}, flush=True); sys.exit({code})"
    stack.spawn(name, [sys.executable, "-c", script]).wait(timeout=60)


def test_an_alive_check_failing_on_the_first_call_fails_the_wait_at_once(sleeps: list[float]) -> None:
    checks: list[int] = []

    def alive() -> None:
        raise ComponentDied("scheduler exited with 1; the end of its log:\nTraceback ...")

    def check() -> bool:
        checks.append(1)
        return False

    with pytest.raises(ComponentDied, match="scheduler exited with 1"):
        wait_until("a run to end", check, timeout=3600, interval=1.0, alive=alive)
    assert sleeps == [], "wait_until slept before raising: the crash would surface only after the wait"
    assert checks == [], "the check ran although a component was already dead"


def test_any_error_of_the_alive_check_is_raised_not_retried(sleeps: list[float]) -> None:
    def alive() -> None:
        raise OSError("cannot read the scheduler's log")

    with pytest.raises(OSError, match="scheduler's log"):
        wait_until("a run to end", lambda: False, timeout=3600, alive=alive)
    assert sleeps == []


def test_a_component_dying_inside_the_check_fails_the_wait_at_once(sleeps: list[float]) -> None:
    def check() -> bool:
        raise ComponentDied("triggerer exited with -9")

    with pytest.raises(ComponentDied, match="triggerer exited with -9"):
        wait_until("a run to end", check, timeout=3600)
    assert sleeps == []


def test_other_errors_of_the_check_are_retried_until_it_succeeds(sleeps: list[float]) -> None:
    answers: list[object] = [ConnectionRefusedError("still starting"), KeyError("state"), 0, "success"]
    alive_calls: list[int] = []

    def check() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    wait_until("a run to end", check, timeout=3600, interval=0.5, alive=lambda: alive_calls.append(1))
    assert answers == []
    assert sleeps == [0.5, 0.5, 0.5]  # three "not yet" answers, then done
    assert len(alive_calls) == 4  # checked before every try


def test_the_timeout_names_the_wait_and_the_last_error(clock: FakeClock) -> None:
    def check() -> bool:
        raise ConnectionRefusedError("api-server not listening")

    with pytest.raises(TimeoutError, match=r"after 10s waiting for Airflow health .*not listening"):
        wait_until("Airflow health", check, timeout=10, interval=1.0)


def test_check_alive_names_the_dead_component_with_the_end_of_its_log(stack: Stack) -> None:
    dead_component(stack, "scheduler", "sqlalchemy.exc.OperationalError: database is locked", 3)
    with pytest.raises(ComponentDied) as raised:
        stack.check_alive()
    message = str(raised.value)
    assert message.startswith("scheduler exited with 3")
    assert "database is locked" in message


def test_waiting_for_a_run_fails_at_once_when_the_scheduler_is_dead(
    stack: Stack, sleeps: list[float]
) -> None:
    # Nothing listens on the API port: only the liveness check can end this wait early.
    dead_component(stack, "scheduler", "scheduler crashed: boom", 1)
    with pytest.raises(ComponentDied, match=r"(?s)scheduler exited with 1.*scheduler crashed: boom"):
        stack.wait_for_run("some_dag", "manual__1", timeout=3600)
    assert sleeps == []


def test_waiting_for_a_dag_fails_at_once_when_the_dag_processor_is_dead(
    stack: Stack, sleeps: list[float]
) -> None:
    dead_component(stack, "dag-processor", "dag-processor: ImportError", 2)
    with pytest.raises(ComponentDied, match="dag-processor exited with 2"):
        stack.wait_for_dag("some_dag", timeout=3600)
    assert sleeps == []
