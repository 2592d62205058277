"""Many waits on one event loop share one poller: list calls, not one query per task per poll."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_ACCESS_KEY
from tests.conftest import conn_json, next_event, use_kling_default

WAITS = 20
QUERY = "GET /v1/audio/video-to-audio/{ident}"
LIST = "GET /v1/audio/video-to-audio"


def submit_many(n: int) -> list[str]:
    hook = KlingHook()

    async def submit_all() -> list[str]:
        request = VideoToAudioRequest.build(video_id="825406034503692376")
        tasks = await asyncio.gather(*(hook.asubmit_task("video-to-audio", request) for _ in range(n)))
        return [t.task_id for t in tasks]

    return hook.run_sync(submit_all)


async def await_all(task_ids: list[str], conn_id: str = "kling_default") -> list[dict]:
    triggers = [KlingTaskTrigger(kling_task_id=t, kling_conn_id=conn_id, poll_interval=0.2) for t in task_ids]
    return await asyncio.gather(*(next_event(t) for t in triggers))


def wait_all(task_ids: list[str]) -> list[dict]:
    return asyncio.run(await_all(task_ids))


@pytest.mark.parametrize("thin_list", [False, True], ids=["full-list", "thin-list"])
def test_waits_are_batched_through_the_list_endpoint(kling_conn: EmulatorServer, thin_list: bool) -> None:
    kling_conn.config.processing_seconds = 1.0
    kling_conn.config.list_omits_results = thin_list
    task_ids = submit_many(WAITS)
    stats = kling_conn.emulator.stats
    queries_before = stats.by_route[QUERY]

    events = wait_all(task_ids)

    assert [e["status"] for e in events] == ["success"] * WAITS
    assert all(e["task"]["audios"][0]["url_wav"] for e in events)
    assert stats.by_route[LIST] >= 2  # several rounds, each one list call for all 20 waits
    queries = stats.by_route[QUERY] - queries_before
    # Thin entries: each finished task is re-read once for its files; full entries need no re-read.
    assert queries == (WAITS if thin_list else 0)


def test_thin_failed_list_entries_are_reread_for_their_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server (not our emulator) whose list gives only id and status, the id as a number."""
    ids = [str(700 + i) for i in range(WAITS)]
    queried: list[str] = []

    async def list_tasks(request: web.Request) -> web.Response:
        entries = [{"task_id": int(i), "task_status": "failed", "created_at": 1} for i in ids]
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": "r", "data": entries})

    async def get_task(request: web.Request) -> web.Response:
        ident = request.match_info["ident"]
        queried.append(ident)
        data = {"task_id": ident, "task_status": "failed", "task_status_msg": f"reason {ident}"}
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": "r", "data": data})

    app = web.Application()
    app.router.add_get("/v1/audio/video-to-audio", list_tasks)
    app.router.add_get("/v1/audio/video-to-audio/{ident}", get_task)

    async def main() -> list[dict]:
        async with TestServer(app, host="127.0.0.1") as server:
            monkeypatch.setenv("AIRFLOW_CONN_KLING_OTHER", conn_json(str(server.make_url("")), mode="key"))
            return await await_all(ids, conn_id="kling_other")

    events = asyncio.run(main())

    assert [e["message"] for e in events] == [f"reason {i}" for i in ids]
    assert sorted(queried) == sorted(ids)  # each failure re-read once, for its reason


def test_waits_after_a_key_rotation_use_the_new_key(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poller outlives its waits (a triggerer's loop runs for days): it must not keep an old key."""
    first, second = submit_many(2)

    async def main() -> list[dict]:
        before = await await_all([first])
        kling_conn.config.access_keys = {DEFAULT_ACCESS_KEY: "rotated-secret"}
        monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(kling_conn.url, password="rotated-secret"))
        return before + await await_all([second])

    assert [e["status"] for e in asyncio.run(main())] == ["success", "success"]


def test_a_server_without_the_list_route_is_listed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its 404 will not change: later rounds query one by one without a failed list call each."""
    ids = [str(900 + i) for i in range(WAITS)]
    queries: dict[str, int] = dict.fromkeys(ids, 0)
    listed: list[int] = []

    @web.middleware
    async def count_lists(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/v1/audio/video-to-audio":
            listed.append(1)
        return await handler(request)

    async def get_task(request: web.Request) -> web.Response:
        ident = request.match_info["ident"]
        queries[ident] += 1
        done = queries[ident] >= 3
        data: dict[str, Any] = {"task_id": ident, "task_status": "succeed" if done else "processing"}
        if done:
            data["task_result"] = {"audios": [{"id": f"a{ident}", "url_mp3": "https://x/a.mp3"}]}
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": "r", "data": data})

    app = web.Application(middlewares=[count_lists])
    app.router.add_get("/v1/audio/video-to-audio/{ident}", get_task)

    async def main() -> list[dict]:
        async with TestServer(app, host="127.0.0.1") as server:
            monkeypatch.setenv("AIRFLOW_CONN_KLING_OTHER", conn_json(str(server.make_url("")), mode="key"))
            return await await_all(ids, conn_id="kling_other")

    assert [e["status"] for e in asyncio.run(main())] == ["success"] * WAITS
    assert min(queries.values()) >= 3  # several rounds ...
    assert len(listed) == 1  # ... one list call


def test_rate_limited_rounds_slow_the_poller_and_fail_no_wait(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1302 on the list call: the round is skipped for everyone (no one-by-one fallback that
    adds load), the poller backs off, and more throttled rounds than the error budget fail no wait."""
    from airflow_provider_kling.execution.poll_errors import MAX_CONSECUTIVE_ERRORS
    from kling_emulator.state import Fault

    use_kling_default(monkeypatch, kling_conn.url, max_retries=0)
    task_ids = submit_many(6)
    stats = kling_conn.emulator.stats
    queries_before = stats.by_route[QUERY]
    kling_conn.config.inject(Fault("error", code=1302, method="GET", times=MAX_CONSECUTIVE_ERRORS + 2))

    events = wait_all(task_ids)

    assert [e["status"] for e in events] == ["success"] * 6
    assert stats.by_route[QUERY] == queries_before  # throttled rounds never fell back to single queries
    assert stats.by_route[LIST] >= MAX_CONSECUTIVE_ERRORS + 3
