"""Per-connection request timeout and retry policy: read from the extra, in every path, shown in the form."""

from __future__ import annotations

import json

import jsonschema
import pytest

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.execution.poll_errors import MAX_CONSECUTIVE_ERRORS
from airflow_provider_kling.hooks.connection import CONN_FIELDS
from airflow_provider_kling.hooks.kling import DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY, KlingHook
from airflow_provider_kling.hooks.transport import RetryPolicy
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_SECRET_KEY, Fault
from tests.conftest import conn_json, first_event

LIST_ROUTE = "GET /v1/audio/video-to-audio"
FAST = {"retry_min_wait": 0.01, "retry_max_wait": 0.02}
SAMPLE = VideoToAudioRequest.build(video_id="825406034503692376", sound_effect_prompt="rain")


def use_extra(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, extra: dict) -> str:
    conn = {**json.loads(conn_json(emulator.url)), "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_KLING_TUNED", json.dumps(conn))
    return "kling_tuned"


@pytest.mark.parametrize("max_retries", [0, 2])
def test_retry_count_and_waits_come_from_the_extra(
    max_retries: int, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = use_extra(monkeypatch, emulator, {"max_retries": max_retries, **FAST})
    emulator.config.inject(Fault("error", code=5000, method="GET", times=10))
    hook = KlingHook(conn_id)
    with pytest.raises(exc.KlingServerError):
        hook.list_tasks("video-to-audio")
    assert emulator.emulator.stats.by_route[LIST_ROUTE] == 1 + max_retries
    assert hook.retry == RetryPolicy(max_retries=max_retries, min_wait=0.01, max_wait=0.02)


def test_request_timeout_comes_from_the_extra(emulator: EmulatorServer, monkeypatch) -> None:
    conn_id = use_extra(monkeypatch, emulator, {"request_timeout": "0.3", "max_retries": 0})  # a string too
    emulator.config.inject(Fault("slow", delay=2.0, method="GET"))
    hook = KlingHook(conn_id)
    with pytest.raises(exc.KlingTransportError, match="no answer from Kling within"):
        hook.list_tasks("video-to-audio")
    assert hook.timeout == 0.3


def test_constructor_arguments_win_and_an_empty_extra_keeps_the_defaults(
    emulator: EmulatorServer, monkeypatch
) -> None:
    conn_id = use_extra(monkeypatch, emulator, {"request_timeout": 5, "max_retries": 4})
    explicit = RetryPolicy(max_retries=1, min_wait=0.01, max_wait=0.01)
    hook = KlingHook(conn_id, timeout=7, retry=explicit)
    hook.get_conn()
    assert (hook.timeout, hook.retry) == (7, explicit)
    # Cleared form fields arrive as null or "": the module defaults stay.
    conn_id = use_extra(monkeypatch, emulator, {"request_timeout": None, "max_retries": ""})
    hook = KlingHook(conn_id)
    hook.get_conn()
    assert (hook.timeout, hook.retry) == (DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY) == (60.0, RetryPolicy())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"request_timeout": 0}, "request_timeout: must be greater than 0"),
        ({"request_timeout": "soon"}, "request_timeout: must be a number of seconds, got 'soon'"),
        ({"max_retries": 2.5}, "max_retries: must be a whole number"),
        ({"max_retries": True}, "max_retries: must be a whole number"),
        ({"max_retries": 99}, "max_retries: must be 0..20"),
        ({"retry_min_wait": -1}, "retry_min_wait: must not be negative"),
        ({"retry_min_wait": 5, "retry_max_wait": 1}, "retry_max_wait: must be at least retry_min_wait"),
    ],
)
def test_a_bad_extra_is_refused_before_any_request(
    extra: dict, message: str, emulator: EmulatorServer, monkeypatch
) -> None:
    conn_id = use_extra(monkeypatch, emulator, extra)
    with pytest.raises(
        exc.KlingValidationError, match=f"Connection 'kling_tuned': extra field {message}"
    ) as info:
        KlingHook(conn_id).list_tasks("video-to-audio")
    assert exc.fails_without_retry(info.value)
    assert emulator.emulator.stats.requests == 0


def test_test_connection_leaves_the_hooks_settings_alone(emulator: EmulatorServer, monkeypatch) -> None:
    conn_id = use_extra(monkeypatch, emulator, {"max_retries": 3, **FAST})
    hook = KlingHook(conn_id)
    emulator.config.inject(Fault("error", code=5000, method="GET"))
    ok, message = hook.test_connection()
    assert not ok and "5000" in message  # one request, not retried
    assert emulator.emulator.stats.by_route[LIST_ROUTE] == 1
    ok, _ = hook.test_connection()
    assert ok
    # The hook itself still retries as its connection says.
    emulator.config.inject(Fault("error", code=5000, method="GET", times=3))
    assert hook.list_tasks("video-to-audio") == []
    assert hook.retry.max_retries == 3
    assert emulator.emulator.stats.by_route[LIST_ROUTE] == 2 + 4


@pytest.mark.parametrize("max_retries", [0, MAX_CONSECUTIVE_ERRORS])
def test_a_deferred_wait_uses_the_connections_retry_policy(
    max_retries: int, kling_conn: EmulatorServer, monkeypatch
) -> None:
    """Five failed rounds end a wait; with enough retries per request in the extra, one round absorbs them."""
    conn_id = use_extra(monkeypatch, kling_conn, {"max_retries": max_retries, **FAST})
    task = KlingHook(conn_id).submit_task("video-to-audio", SAMPLE)
    kling_conn.config.inject(Fault("error", code=5000, method="GET", times=MAX_CONSECUTIVE_ERRORS))
    trigger = KlingTaskTrigger(kling_task_id=task.task_id, kling_conn_id=conn_id, poll_interval=0.05)
    _, kwargs = trigger.serialize()
    assert DEFAULT_SECRET_KEY not in json.dumps(kwargs) and "retries" not in json.dumps(kwargs)
    event = first_event(trigger)
    assert event["status"] == ("error" if max_retries == 0 else "success")


def test_the_form_fields_are_optional_typed_and_served_by_airflow() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    assert set(CONN_FIELDS) == {
        *("request_timeout", "max_retries", "retry_min_wait", "retry_max_wait"),
        *("proxies", "verify", "cert"),  # the http provider's keys (tests/hooks/test_proxy_tls.py)
    }
    for name, field in CONN_FIELDS.items():
        schema = field["schema"]
        jsonschema.Draft7Validator.check_schema(schema)
        jsonschema.validate(None, schema)  # optional: a field left empty is valid
        assert "null" in schema["type"] and field["label"] and field["description"], name
    assert jsonschema.Draft7Validator(CONN_FIELDS["max_retries"]["schema"]).is_valid(3)
    assert not jsonschema.Draft7Validator(CONN_FIELDS["max_retries"]["schema"]).is_valid(2.5)
    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "kling"]
    assert meta.extra_fields is not None
    assert set(meta.extra_fields) == set(CONN_FIELDS)
    assert meta.extra_fields["max_retries"]["schema"]["title"] == "Retries per request"
