"""A submit trigger shares the loop's hook, and still submits after a key rotation it predates."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_kling.hooks.shared import shared_hook
from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, fast_config, next_event

SAMPLE_VIDEO = "825406034503692376"


def test_a_submit_trigger_retries_with_the_rotated_key_after_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with EmulatorServer(fast_config(api_keys={"key-one"})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_KLING_SUB", conn_json(server.url, mode="key", password="key-one"))

        async def main() -> tuple[dict, bool, str]:
            before = shared_hook("kling_sub")  # e.g. a wait on this loop made it an instant ago
            await before.aget_conn()
            monkeypatch.setenv(
                "AIRFLOW_CONN_KLING_SUB", conn_json(server.url, mode="key", password="key-two")
            )
            server.config.api_keys = {"key-two"}  # rotated, the old key revoked at once
            trigger = KlingSubmitTrigger(
                task_kind="video-to-audio",
                payload={"video_id": SAMPLE_VIDEO, "external_task_id": "airflow-rotated"},
                kling_conn_id="kling_sub",
                poll_interval=0.1,
                account_full=False,
            )
            event = await next_event(trigger)
            after = shared_hook("kling_sub")
            return event, after is before, after._credentials.authorization() if after._credentials else ""

        event, same, authorization = asyncio.run(main())
        submits = server.emulator.stats.submits

    assert event["status"] == "success", event
    assert event["task"]["external_task_id"] == "airflow-rotated"
    assert submits == 1
    assert not same and authorization == "Bearer key-two"  # the renewed hook is the loop's shared one now
