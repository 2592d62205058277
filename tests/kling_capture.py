"""A small Kling stand-in on loopback that records every submit body as it arrived; a file server.

For what the emulator cannot show: the exact body on the wire (the emulator would call a
non-loopback callback_url), and answers it does not give. Each submit is answered with a
finished task, as a fast Kling would (or ``processing`` first, with ``finish_later``).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PATHS = ("/v1/videos/text2video", "/v1/videos/image2video", "/v1/audio/text-to-audio")


@dataclass
class Capture:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # by task id and external id
    # Extra keys merged into every answered task (e.g. task_info.parent_video).
    answer_extra: dict[str, Any] = field(default_factory=dict)
    # True: submit answers "processing" and the task finishes on its first query or list.
    finish_later: bool = False


def _envelope(data: Any, code: int = 0, message: str = "SUCCEED") -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": "capture", "data": data}


def _task(task_id: str, body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    video: dict[str, Any] = {
        "id": f"v{task_id}",
        "url": f"https://cdn.example/{task_id}.mp4",
        "duration": "5",
    }
    if (body.get("watermark_info") or {}).get("enabled"):
        video["watermark_url"] = f"https://cdn.example/{task_id}-wm.mp4"
    task = {
        "task_id": task_id,
        "task_status": "succeed",
        "task_status_msg": "",
        "task_info": {"external_task_id": body.get("external_task_id", "")},
        "task_result": {"videos": [video]},
        "created_at": 1764115200000,
        "updated_at": 1764115290000,
    }
    task.update(extra)
    return task


@contextmanager
def capture_server() -> Iterator[Capture]:
    capture = Capture()
    ids = itertools.count(1000)

    async def submit(request: web.Request) -> web.Response:
        body = await request.json()
        capture.bodies.append(body)
        task = _task(str(next(ids)), body, capture.answer_extra)
        capture.tasks[task["task_id"]] = task
        if body.get("external_task_id"):
            capture.tasks[body["external_task_id"]] = task
        if capture.finish_later:
            return web.json_response(_envelope({**task, "task_status": "processing", "task_result": {}}))
        return web.json_response(_envelope(task))

    async def query(request: web.Request) -> web.Response:
        task = capture.tasks.get(request.match_info["ident"])
        if task is None:
            return web.json_response(_envelope(None, 1203, "Task not found"), status=404)
        return web.json_response(_envelope(task))

    async def list_tasks(request: web.Request) -> web.Response:
        unique = {t["task_id"]: t for t in capture.tasks.values()}
        return web.json_response(_envelope(list(unique.values())))

    app = web.Application()
    for path in PATHS:
        app.router.add_post(path, submit)
        app.router.add_get(path, list_tasks)
        app.router.add_get(path + "/{ident}", query)
    with serve_app(app) as url:
        capture.url = url
        yield capture


@contextmanager
def serve_app(app: web.Application) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a thread; yields its base URL, stops it after."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
