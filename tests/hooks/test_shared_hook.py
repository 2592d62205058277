"""Waits share one hook per connection and loop; a changed connection reaches running waits after expiry."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.hooks import shared
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.shared import shared_hook
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, fast_config, next_event

TTL = 0.8
WAITS = 4  # enough for the list path


def test_one_hook_per_connection_and_loop_until_it_expires() -> None:
    async def main() -> None:
        first = shared_hook("kling_a", ttl=0.3)
        assert shared_hook("kling_a") is first
        assert shared_hook("kling_b") is not first
        await asyncio.sleep(0.35)
        renewed = shared_hook("kling_a")
        assert renewed is not first and renewed.kling_conn_id == "kling_a"

    asyncio.run(main())
    # Each loop (a sync call's private loop, another triggerer) has its own.
    assert asyncio.run(_hook("kling_a")) is not asyncio.run(_hook("kling_a"))


async def _hook(conn_id: str) -> KlingHook:
    return shared_hook(conn_id)


def test_a_changed_key_reaches_waits_that_started_before_the_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old key keeps working (both valid during a rotation): the new one arrives with the expiry."""
    ids = [str(500 + i) for i in range(WAITS)]
    seen: list[tuple[float, str]] = []  # (when, key) of every request
    started = time.monotonic()
    finish_at = started + 3 * TTL

    async def list_tasks(request: web.Request) -> web.Response:
        seen.append((time.monotonic(), request.headers.get("Authorization", "")))
        done = time.monotonic() >= finish_at
        entries = [
            {
                "task_id": i,
                "task_status": "succeed" if done else "processing",
                "task_result": {"audios": [{"id": f"a{i}", "url_mp3": "https://x/a.mp3"}]} if done else {},
            }
            for i in ids
        ]
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": "r", "data": entries})

    app = web.Application()
    app.router.add_get("/v1/audio/video-to-audio", list_tasks)

    async def main() -> tuple[list[dict], float]:
        async with TestServer(app, host="127.0.0.1") as server:
            url = str(server.make_url(""))
            monkeypatch.setenv("AIRFLOW_CONN_KLING_ROT", conn_json(url, mode="key", password="key-one"))
            created = time.monotonic()
            shared_hook("kling_rot", ttl=TTL)  # the hook the waits below share, with a short expiry
            triggers = [
                KlingTaskTrigger(kling_task_id=i, kling_conn_id="kling_rot", poll_interval=0.1) for i in ids
            ]
            waits = asyncio.gather(*(next_event(t) for t in triggers))
            await asyncio.sleep(0.3)
            monkeypatch.setenv("AIRFLOW_CONN_KLING_ROT", conn_json(url, mode="key", password="key-two"))
            return await waits, created

    events, created = asyncio.run(main())

    assert [e["status"] for e in events] == ["success"] * WAITS
    keys = [key for _, key in seen]
    assert keys[0] == "Bearer key-one"
    assert "Bearer key-two" in keys  # the running waits picked up the changed connection ...
    first_new = min(when for when, key in seen if key == "Bearer key-two")
    assert first_new >= created + TTL  # ... once the shared hook expired, not on every round
    assert keys == sorted(keys)  # and never went back to the old key


def test_a_rotated_key_reaches_every_poller_after_the_old_one_is_revoked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two pollers (two poll intervals) hold one shared hook; the first to renew must not strand the other."""
    monkeypatch.setattr(shared, "CONNECTION_TTL_SECONDS", TTL)
    config = fast_config(api_keys={"key-one"}, processing_seconds=6 * TTL)
    with EmulatorServer(config) as server:
        monkeypatch.setenv("AIRFLOW_CONN_KLING_TWO", conn_json(server.url, mode="key", password="key-one"))
        hook = KlingHook("kling_two")

        async def submit() -> list[str]:
            request = VideoToAudioRequest.build(video_id="825406034503692376")
            return [(await hook.asubmit_task("video-to-audio", request)).task_id for _ in range(2)]

        fast, slow = hook.run_sync(submit)

        async def main() -> list[dict]:
            triggers = [
                KlingTaskTrigger(kling_task_id=fast, kling_conn_id="kling_two", poll_interval=0.1),
                KlingTaskTrigger(kling_task_id=slow, kling_conn_id="kling_two", poll_interval=0.15),
            ]
            waits = asyncio.gather(*(next_event(t) for t in triggers))
            await asyncio.sleep(0.3)
            monkeypatch.setenv(
                "AIRFLOW_CONN_KLING_TWO", conn_json(server.url, mode="key", password="key-two")
            )
            server.config.api_keys = {"key-one", "key-two"}  # both valid during the rotation ...
            await asyncio.sleep(2 * TTL)  # ... until one poller renewed the shared hook
            server.config.api_keys = {"key-two"}  # the old key is revoked
            return await waits

        events = asyncio.run(main())

    assert [e["status"] for e in events] == ["success", "success"], events
    assert [e["task"]["kling_task_id"] for e in events] == [fast, slow]


def test_a_refusal_after_another_access_key_renews_a_jwt_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JWT connection whose access key changed (same secret key) is a changed connection."""
    with EmulatorServer(fast_config(access_keys={"ak-one": "sk", "ak-two": "sk"})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_KLING_JWT", conn_json(server.url, login="ak-one", password="sk"))

        async def main() -> tuple[KlingHook, KlingHook | None, KlingHook | None]:
            old = shared_hook("kling_jwt")
            await old.aget_conn()
            unchanged = await shared.arenewed_after_refusal(old)
            monkeypatch.setenv("AIRFLOW_CONN_KLING_JWT", conn_json(server.url, login="ak-two", password="sk"))
            return old, unchanged, await shared.arenewed_after_refusal(old)

        old, unchanged, fresh = asyncio.run(main())

    assert unchanged is None  # the connection still holds what Kling refused
    assert fresh is not None and fresh is not old
    assert fresh._credentials is not None and fresh._credentials.identity()[0] == "ak-two"
