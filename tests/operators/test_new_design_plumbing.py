"""The operators' machinery on new-design kinds over HTTP: API key only, budget floor, at most once, 1303."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_kling.config import resource_packs_cache_dir
from airflow_provider_kling.exceptions import KlingBudgetError, KlingValidationError
from airflow_provider_kling.hooks.packs_cache import clear_process_cache
from airflow_provider_kling.operators.video import TextToVideoOperator
from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
from kling_emulator.billing import ResourcePack
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, first_event
from tests.operators.test_operator import RecordingTI

CREATE = "POST /text-to-video/{model}"
TASKS = "GET /tasks"


@pytest.fixture(autouse=True)
def fresh_packs_cache() -> Iterator[None]:
    def clear() -> None:
        clear_process_cache()
        shutil.rmtree(resource_packs_cache_dir(), ignore_errors=True)

    clear()
    yield
    clear()


def turbo(**kwargs: Any) -> TextToVideoOperator:
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("task_id", "clip")
    return TextToVideoOperator(
        prompt="A kite over the sea",
        model_name="kling-3.0-turbo",
        poll_interval=0.1,
        **kwargs,
    )


def test_a_jwt_connection_fails_before_the_budget_check_or_the_submit(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url))  # access key + secret key
    with pytest.raises(KlingValidationError, match="accepts an API key only") as refused:
        turbo(min_remaining_units=5).execute({"ti": RecordingTI()})
    assert "password ('API key (or legacy secret key)')" in str(refused.value)
    assert emulator.emulator.stats.requests == 0  # not even GET /account/costs


def test_the_budget_floor_refuses_a_new_design_submit(kling_key_conn: EmulatorServer) -> None:
    kling_key_conn.config.resource_packs = [
        ResourcePack.from_dict({"total_quantity": 100, "remaining_quantity": 3})
    ]
    with pytest.raises(KlingBudgetError, match="min_remaining_units=10"):
        turbo(min_remaining_units=10).execute({"ti": RecordingTI()})
    assert kling_key_conn.emulator.stats.by_route[CREATE] == 0


def test_below_the_floor_a_retry_reattaches_to_its_paid_new_design_task(
    kling_key_conn: EmulatorServer,
) -> None:
    first = turbo(wait_for_completion=False).execute({"ti": RecordingTI()})
    kling_key_conn.config.resource_packs = [
        ResourcePack.from_dict({"total_quantity": 100, "remaining_quantity": 0})
    ]
    again = turbo(min_remaining_units=10).execute({"ti": RecordingTI()})  # the same Airflow task, a retry
    assert again["task_id"] == first["task_id"] and again["status"] == "succeed"
    assert kling_key_conn.emulator.stats.submits == 1


def test_a_first_submit_looks_its_external_id_up_once_then_posts(kling_key_conn: EmulatorServer) -> None:
    result = turbo(wait_for_completion=False).execute({"ti": RecordingTI()})
    stats = kling_key_conn.emulator.stats
    # One GET /tasks?external_task_ids= (an id this Airflow task derived is never a Kling task id).
    assert (stats.by_route[TASKS], stats.by_route[CREATE]) == (1, 1)
    assert result["status"] == "submitted" and result["external_task_id"].startswith("airflow-")


def test_retries_reattach_blocking_and_deferred_never_a_second_paid_task(
    kling_key_conn: EmulatorServer,
) -> None:
    kling_key_conn.config.processing_seconds = 1.0
    first = turbo(wait_for_completion=False).execute({"ti": RecordingTI()})  # a try that died waiting
    with pytest.raises(TaskDeferred) as deferred:
        turbo(deferrable=True, timeout=60).execute({"ti": RecordingTI()})  # the retry, deferrable
    event = first_event(deferred.value.trigger)
    resumed = turbo(deferrable=True).execute_complete({"ti": RecordingTI()}, event)
    assert resumed["task_id"] == first["task_id"] and resumed["api_design"] == "new"
    again = turbo().execute({"ti": RecordingTI()})  # one more, blocking: the finished task's result
    assert again["task_id"] == first["task_id"] and again["videos"] == resumed["videos"]
    stats = kling_key_conn.emulator.stats
    assert stats.submits == 1 and stats.by_route[CREATE] == 1
    assert not any(route.startswith("GET /v1") for route in stats.by_route)  # waits read GET /tasks only


def test_a_full_account_defers_the_new_design_submit_to_the_line(kling_key_conn: EmulatorServer) -> None:
    config = kling_key_conn.config
    config.max_concurrent_tasks = 1
    config.processing_seconds = 0.6
    occupier = turbo(task_id="occupy", wait_for_completion=False).execute(
        {"ti": RecordingTI(task_id="occupy")}
    )
    with pytest.raises(TaskDeferred) as deferred:
        turbo(deferrable=True, timeout=60).execute({"ti": RecordingTI()})
    trigger = deferred.value.trigger
    assert isinstance(trigger, KlingSubmitTrigger) and trigger.task_kind == "text-to-video"
    event = first_event(trigger)
    assert event["status"] == "success" and event["task"]["task_id"] != occupier["task_id"]
    stats = kling_key_conn.emulator.stats
    assert stats.limit_refusals[1303] >= 1 and stats.submits == 2 and stats.peak_running == 1
