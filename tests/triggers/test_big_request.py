"""Trigger kwargs stay small and secret-free, even for a request with a multi-MB Base64 image."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_kling.operators.video import ImageToVideoOperator
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from airflow_provider_kling.triggers.submit import (
    INLINE_REQUEST_MAX_BYTES,
    REQUEST_XCOM_KEY,
    KlingSubmitTrigger,
)
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from tests.dags.test_example_dags import load_dag
from tests.execution.test_capacity import occupy_the_only_slot, refusals
from tests.operators.test_operator import RecordingTI

KWARGS_MAX_BYTES = 4 * 1024  # what a trigger row may hold, whatever the request


def big_png(megabytes: float) -> str:
    """Raw Base64 of a 1280x720 PNG padded with an ancillary chunk to about ``megabytes``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    padding = bytes(range(256)) * int(megabytes * 1024 * 1024 / 256)
    ihdr = struct.pack(">IIBBBBB", 1280, 720, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"zzZz", padding) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


IMAGE = big_png(3)


def i2v(**kwargs: Any) -> ImageToVideoOperator:
    return ImageToVideoOperator(
        task_id="i2v", image=IMAGE, model_name="kling-v3", poll_interval=0.1, timeout=60, **kwargs
    )


def assert_small_and_secret_free(kwargs: dict[str, Any], server: EmulatorServer) -> None:
    stored = json.dumps(kwargs)
    assert len(stored.encode()) <= KWARGS_MAX_BYTES, len(stored)
    tokens = [a.removeprefix("Bearer ").strip() for a in server.emulator.stats.authorizations]
    assert tokens  # the hook really signed requests: there was something to leak
    for secret in [DEFAULT_SECRET_KEY, DEFAULT_ACCESS_KEY, *tokens, "Bearer", "eyJ"]:
        assert secret not in stored


def test_the_wait_trigger_keeps_a_multi_megabyte_request_out_of_its_kwargs(
    kling_conn: EmulatorServer,
) -> None:
    assert len(IMAGE) > 3_000_000
    # The account has room: the submit happens on the worker, the wait defers.
    with pytest.raises(TaskDeferred) as waiting:
        i2v(deferrable=True).execute({"ti": RecordingTI(task_id="i2v")})
    assert isinstance(waiting.value.trigger, KlingTaskTrigger)
    assert_small_and_secret_free(waiting.value.trigger.serialize()[1], kling_conn)
    [task] = kling_conn.emulator.store.tasks.values()
    assert task.request["image"] == IMAGE


def test_the_submit_trigger_keeps_a_multi_megabyte_request_in_xcom(kling_conn: EmulatorServer) -> None:
    # The account is full: the submit itself defers, its request body goes to XCom.
    occupy_the_only_slot(kling_conn, seconds=30)
    ti = RecordingTI(task_id="i2v", run_id="run-2")
    with pytest.raises(TaskDeferred) as submitting:
        i2v(deferrable=True).execute({"ti": ti})
    trigger = submitting.value.trigger
    assert isinstance(trigger, KlingSubmitTrigger) and refusals(kling_conn) == 1
    kwargs = trigger.serialize()[1]
    assert_small_and_secret_free(kwargs, kling_conn)
    assert kwargs["payload"] is None and kwargs["external_task_id"].startswith("airflow-")
    assert kwargs["request_xcom"] == {
        "dag_id": "dag",
        "run_id": "run-2",
        "task_id": "i2v",
        "map_index": -1,
        "key": REQUEST_XCOM_KEY,
    }
    pushed = ti.xcom[REQUEST_XCOM_KEY]
    assert pushed["image"] == IMAGE and pushed["external_task_id"] == kwargs["external_task_id"]


def test_a_small_request_stays_inline(kling_conn: EmulatorServer) -> None:
    occupy_the_only_slot(kling_conn, seconds=30)
    ti = RecordingTI(task_id="i2v")
    op = ImageToVideoOperator(
        task_id="i2v", image="https://cdn.example/first.png", model_name="kling-v3", deferrable=True
    )
    with pytest.raises(TaskDeferred) as submitting:
        op.execute({"ti": ti})
    kwargs = submitting.value.trigger.serialize()[1]
    assert kwargs["payload"]["image"] == "https://cdn.example/first.png" and kwargs["request_xcom"] is None
    assert REQUEST_XCOM_KEY not in ti.xcom


def deferred_submit(prompt: str) -> tuple[dict[str, Any], RecordingTI]:
    """The kwargs of the submit trigger an image2video task with ``prompt`` defers to (account full)."""
    ti = RecordingTI(task_id="i2v")
    op = ImageToVideoOperator(
        task_id="i2v",
        image="https://cdn.example/first.png",
        prompt=prompt,
        model_name="kling-v3",
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as submitting:
        op.execute({"ti": ti})
    trigger = submitting.value.trigger
    assert isinstance(trigger, KlingSubmitTrigger)
    kwargs = trigger.serialize()[1]
    # What Airflow stores, measured as the brief says: the trigger row stays a few KB.
    assert len(json.dumps(kwargs)) <= KWARGS_MAX_BYTES, len(json.dumps(kwargs))
    assert KlingSubmitTrigger(**kwargs).serialize()[1] == kwargs  # and it rebuilds the same trigger
    return kwargs, ti


@pytest.mark.parametrize("over", [-1, 0, 1, 2])
def test_a_request_at_the_inline_limit_stays_inline_one_byte_over_goes_to_xcom(
    kling_conn: EmulatorServer, over: int
) -> None:
    occupy_the_only_slot(kling_conn, seconds=30)
    probe, _ = deferred_submit("a")
    size = len(json.dumps(probe["payload"]).encode())
    # The same request with a prompt that brings it to INLINE_REQUEST_MAX_BYTES + over bytes of JSON.
    kwargs, ti = deferred_submit("a" * (1 + INLINE_REQUEST_MAX_BYTES + over - size))
    if over <= 0:
        assert kwargs["request_xcom"] is None and REQUEST_XCOM_KEY not in ti.xcom
        assert len(json.dumps(kwargs["payload"]).encode()) == INLINE_REQUEST_MAX_BYTES + over
    else:
        assert kwargs["payload"] is None and kwargs["request_xcom"]["key"] == REQUEST_XCOM_KEY
        assert len(json.dumps(ti.xcom[REQUEST_XCOM_KEY]).encode()) == INLINE_REQUEST_MAX_BYTES + over


def test_the_longest_inline_request_with_long_ids_keeps_the_kwargs_small(kling_conn: EmulatorServer) -> None:
    """The other kwargs are bounded too: a 128-character external_task_id and a long conn id."""
    occupy_the_only_slot(kling_conn, seconds=30)
    payload = {"prompt": "", "external_task_id": "x" * 128}
    payload["prompt"] = "a" * (INLINE_REQUEST_MAX_BYTES - len(json.dumps(payload).encode()))
    assert len(json.dumps(payload).encode()) == INLINE_REQUEST_MAX_BYTES
    trigger = KlingSubmitTrigger(
        task_kind="text2video",
        payload=payload,
        kling_conn_id="k" * 250,
        deadline=2_000_000_000.0,
        waiting_since=1_900_000_000.0,
    )
    assert len(json.dumps(trigger.serialize()[1])) <= KWARGS_MAX_BYTES


def test_dag_test_submits_a_big_request_read_from_xcom_on_the_triggerer(
    airflow_db: Path, kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dag.test()`` runs the trigger in line, with the task SDK's XCom access as a triggerer has."""
    seen: list[dict[str, Any]] = []
    original = KlingSubmitTrigger.run

    async def run(self: KlingSubmitTrigger) -> Any:
        seen.append(self.serialize()[1])
        async for event in original(self):
            yield event

    monkeypatch.setattr(KlingSubmitTrigger, "run", run)
    config = kling_conn.emulator.config
    config.max_concurrent_tasks = 1  # the DAG's first task fills the account
    config.processing_seconds = 3.0
    dag = load_dag(airflow_db, "kling_big_request")
    result = dag.test(run_conf={"image": IMAGE})
    assert result.state == "success"
    [kwargs] = seen  # the submit really deferred, and was rebuilt from these kwargs
    assert kwargs["payload"] is None and kwargs["request_xcom"]["key"] == REQUEST_XCOM_KEY
    assert len(json.dumps(kwargs)) <= KWARGS_MAX_BYTES
    assert refusals(kling_conn) >= 1
    [task] = [t for t in kling_conn.emulator.store.tasks.values() if t.kind == "image2video"]
    assert task.request["image"] == IMAGE  # the whole image reached Kling from XCom
    assert task.request["external_task_id"] == kwargs["external_task_id"]
    assert kling_conn.emulator.stats.submits == 2
    # Once the task resumed, the request (megabytes in the metadata DB) is gone; its result stays.
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        keys = session.scalars(
            select(XComModel.key).where(
                XComModel.dag_id == "kling_big_request",
                XComModel.run_id == result.run_id,
                XComModel.task_id == "image_to_video",
            )
        ).all()
    assert REQUEST_XCOM_KEY not in keys and "return_value" in keys
