"""KlingTaskSensor in reschedule mode: 5 failed checks in a row fail it, although every poke is new.

Each poke here is a fresh sensor instance, as each rescheduled poke is a fresh process in Airflow;
what carries over is only what Airflow keeps: the task state store (a dict-backed stand-in for
Airflow 3.3's ``context["task_state_store"]``, same ``get``/``set``/``delete``) and the try number.
The real thing, in a real Airflow: ``tests/real_airflow/test_sensor_reschedule.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.execution.poll_errors import MAX_CONSECUTIVE_ERRORS
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.sensors.kling import POLL_ERRORS_KEY, KlingTaskSensor
from kling_emulator.server import EmulatorServer
from kling_emulator.state import Fault
from tests.conftest import use_kling_default

QUERY = "GET /v1/audio/video-to-audio/{ident}"


@dataclass
class StateStore:
    """What Airflow 3.3 keeps per task instance across reschedules and tries (JSON values)."""

    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        assert value is not None
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


@dataclass
class TI:
    """The slice of Airflow's TaskInstance the sensor and Airflow's ``BaseSensorOperator`` use."""

    try_number: int = 1
    first_reschedule: datetime | None = None  # when this try was first rescheduled, if it was

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return self.first_reschedule


@pytest.fixture
def one_request_per_check(kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    use_kling_default(monkeypatch, kling_conn.url, max_retries=0)
    return kling_conn


def sensor(task_id: str, **kwargs: Any) -> KlingTaskSensor:
    kwargs.setdefault("poke_interval", 0.05)
    return KlingTaskSensor(
        task_id="wait", kling_task_id=task_id, mode="reschedule", deferrable=False, **kwargs
    )


def poke(task_id: str, context: dict[str, Any]) -> bool:
    """One rescheduled poke: a new sensor instance, as in a new worker process."""
    return bool(sensor(task_id).poke(context).is_done)


def failing_checks(server: EmulatorServer, n: int) -> None:
    server.config.inject(Fault("error", code=5000, method="GET", times=n))


def submitted(server: EmulatorServer) -> str:
    from airflow_provider_kling.api.audio import VideoToAudioRequest

    server.config.submitted_seconds = 60.0  # stays "submitted": only faults end these waits
    request = VideoToAudioRequest.build(video_id="825406034503692376", sound_effect_prompt="rain")
    return KlingHook().submit_task("video-to-audio", request).task_id


def test_the_fifth_failed_check_in_a_row_fails_it_across_pokes(one_request_per_check: EmulatorServer) -> None:
    server = one_request_per_check
    task_id = submitted(server)
    store, stats = StateStore(), server.emulator.stats
    context = {"ti": TI(), "task_state_store": store}
    before = stats.by_route[QUERY]
    failing_checks(server, 100)
    for n in range(1, MAX_CONSECUTIVE_ERRORS):
        assert poke(task_id, context) is False  # rescheduled, not failed
        assert store.values[POLL_ERRORS_KEY]["in_a_row"] == n
    with pytest.raises(exc.KlingWaitError, match="5000") as gave_up:
        poke(task_id, context)
    assert not exc.fails_without_retry(gave_up.value)  # an Airflow retry may help
    assert stats.by_route[QUERY] - before == MAX_CONSECUTIVE_ERRORS  # one check per poke, 5 in all
    assert POLL_ERRORS_KEY not in store.values  # a retry starts with a full budget


def test_a_good_check_resets_the_count_and_another_try_starts_afresh(
    one_request_per_check: EmulatorServer,
) -> None:
    server = one_request_per_check
    task_id = submitted(server)
    store = StateStore()
    context = {"ti": TI(), "task_state_store": store}
    failing_checks(server, MAX_CONSECUTIVE_ERRORS - 1)
    for _ in range(MAX_CONSECUTIVE_ERRORS - 1):
        assert poke(task_id, context) is False
    assert poke(task_id, context) is False  # a good check: the task is still running
    assert store.values[POLL_ERRORS_KEY]["in_a_row"] == 0
    failing_checks(server, MAX_CONSECUTIVE_ERRORS - 1)
    for _ in range(MAX_CONSECUTIVE_ERRORS - 1):
        assert poke(task_id, context) is False  # 4 in a row again: still within the budget
    assert store.values[POLL_ERRORS_KEY] == {"try": 1, "in_a_row": 4, "told_unknown": False}
    # The next Airflow try does not inherit try 1's four failures.
    retry = {"ti": TI(try_number=2), "task_state_store": store}
    failing_checks(server, 1)
    assert poke(task_id, retry) is False
    assert store.values[POLL_ERRORS_KEY]["in_a_row"] == 1


def test_without_a_state_store_a_poke_checks_again_until_the_verdict(
    one_request_per_check: EmulatorServer,
) -> None:
    """Airflow < 3.3 has no task state store: the budget cannot cross pokes, so a poke after a
    failed check checks again in place (``poke_interval`` apart) until a good check or the 5th."""
    server = one_request_per_check
    task_id = submitted(server)
    stats = server.emulator.stats
    before = stats.by_route[QUERY]
    failing_checks(server, MAX_CONSECUTIVE_ERRORS - 1)
    assert poke(task_id, {"ti": TI()}) is False  # 4 failed, the 5th check good: keep waiting
    assert stats.by_route[QUERY] - before == MAX_CONSECUTIVE_ERRORS
    failing_checks(server, 100)
    with pytest.raises(exc.KlingWaitError, match="5000"):
        poke(task_id, {"ti": TI()})
    assert stats.by_route[QUERY] - before == 2 * MAX_CONSECUTIVE_ERRORS


def test_poke_mode_keeps_the_count_in_the_instance(one_request_per_check: EmulatorServer) -> None:
    """A poke-mode sensor never touches the store (one process for the whole wait)."""
    server = one_request_per_check
    task_id = submitted(server)
    store = StateStore()
    poking = KlingTaskSensor(task_id="wait", kling_task_id=task_id, deferrable=False, poke_interval=0.05)
    failing_checks(server, MAX_CONSECUTIVE_ERRORS)
    for _ in range(MAX_CONSECUTIVE_ERRORS - 1):
        assert poking.poke({"ti": TI(), "task_state_store": store}).is_done is False
    with pytest.raises(exc.KlingWaitError):
        poking.poke({"ti": TI(), "task_state_store": store})
    assert store.values == {}


@pytest.mark.parametrize("soft_fail", [False, True])
def test_without_a_state_store_checking_again_stops_at_the_sensor_timeout(
    one_request_per_check: EmulatorServer, soft_fail: bool
) -> None:
    """On Airflow 3.1/3.2 the in-place re-checks end with the timeout: Airflow's sensor timeout, not
    five checks ``poke_interval`` (here 30s) apart."""
    server = one_request_per_check
    task_id = submitted(server)
    stats = server.emulator.stats
    before = stats.by_route[QUERY]
    failing_checks(server, 100)
    waiting = sensor(task_id, poke_interval=30, timeout=0.5, soft_fail=soft_fail)
    started = time.monotonic()
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout):
        waiting.execute({"ti": TI()})  # Airflow's BaseSensorOperator.execute, as on a worker
    assert time.monotonic() - started < 10  # slept up to the timeout, not a poke_interval
    assert stats.by_route[QUERY] - before == 2  # a check, a sleep to the timeout, the last check


def test_a_poke_after_the_timeout_checks_once(one_request_per_check: EmulatorServer) -> None:
    """The timeout counts from the try's first reschedule, as Airflow counts it."""
    server = one_request_per_check
    task_id = submitted(server)
    stats = server.emulator.stats
    before = stats.by_route[QUERY]
    failing_checks(server, 100)
    long_ago = datetime.now(timezone.utc) - timedelta(seconds=120)
    late = sensor(task_id, poke_interval=30, timeout=60)
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        late.execute({"ti": TI(first_reschedule=long_ago)})
    assert time.monotonic() - started < 10 and stats.by_route[QUERY] - before == 1
    # Within its timeout the same poke checks again in place (no task state store).
    early = sensor(task_id, timeout=3600)
    with pytest.raises(exc.KlingWaitError):
        early.execute({"ti": TI(first_reschedule=datetime.now(timezone.utc))})
    assert stats.by_route[QUERY] - before == 1 + MAX_CONSECUTIVE_ERRORS


@pytest.mark.parametrize("ends", ["succeed", "failed"])
def test_the_count_is_deleted_when_the_sensor_ends(one_request_per_check: EmulatorServer, ends: str) -> None:
    server = one_request_per_check
    task_id = submitted(server)
    store = StateStore()
    context = {"ti": TI(), "task_state_store": store}
    failing_checks(server, 2)
    assert poke(task_id, context) is False and poke(task_id, context) is False
    assert store.values[POLL_ERRORS_KEY]["in_a_row"] == 2
    assert poke(task_id, context) is False  # a good check, the task still running: the count is kept
    assert store.values[POLL_ERRORS_KEY]["in_a_row"] == 0
    server.config.submitted_seconds = server.config.processing_seconds = 0.0  # the task ends now
    if ends == "failed":
        server.emulator.store.tasks[task_id].fail_message = "content refused"
        with pytest.raises(exc.KlingTaskFailedError):
            poke(task_id, context)
    else:
        assert poke(task_id, context) is True
    assert store.values == {}  # no state-store row left behind
