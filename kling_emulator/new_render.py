"""A new-design task as Kling shows it: ``id, status, outputs[], billing[]``, and its result files.

Contract: KLING_API §3 (new-design task), §8.4 (create answer), §8.5 (the task object). The
lifecycle is the legacy one (``EmulatedTask.status``, by the clock) spelled the new way
(``succeed`` -> ``succeeded``).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from aiohttp import web

from kling_emulator import billing, media, new_media
from kling_emulator.new_rules import NewSpec, validate_new
from kling_emulator.state import EmulatedTask, EmulatorConfig

# EmulatedTask.kind of a new-design task: "new:<family>/<path model>".
KIND_PREFIX = "new:"
STATUS = {"succeed": "succeeded"}
# Units per second relative to ``EmulatorConfig.units_per_second`` (0.2 by default): 720p costs
# 4 x 0.2 = 0.8 units/s, the documented 3.0 Turbo 720p price (5 s = "4" units); 1080p twice that
# and 4k four times (made up, after avatar's 720P/1080P ratio of 1:2). KLING_API §8.5, §11.
RESOLUTION_FACTOR = {"720p": 4.0, "1080p": 8.0, "4k": 16.0}


def is_new(task: EmulatedTask) -> bool:
    return task.kind.startswith(KIND_PREFIX)


def kind_for(family: str, model: str) -> str:
    return f"{KIND_PREFIX}{family}/{model}"


# id(task) -> (weak task, spec): a poll must not re-check (and re-decode Base64 frames) every time.
_specs: dict[int, tuple[weakref.ref[EmulatedTask], NewSpec]] = {}


def spec(task: EmulatedTask) -> NewSpec:
    """What the task makes, read from its (already checked) body once."""
    known = _specs.get(id(task))
    if known is not None and known[0]() is task:
        return known[1]
    family, _, model = task.kind.removeprefix(KIND_PREFIX).partition("/")
    made = validate_new(family, model, task.request)
    _specs[id(task)] = (weakref.ref(task), made)
    return made


def units(task: EmulatedTask, config: EmulatorConfig) -> float:
    rate = config.units_per_second * RESOLUTION_FACTOR.get(spec(task).resolution, 4.0)
    return billing.units_for(task.duration, rate)


def watermarked(task: EmulatedTask) -> bool:
    options = task.request.get("options")
    return isinstance(options, dict) and media.watermarked(options)


def _changed(task: EmulatedTask, config: EmulatorConfig, status: str) -> float:
    if status == "processing":
        return task.created + config.submitted_seconds
    if status in ("succeed", "failed"):
        return task.finishes_at(config)
    return task.created


def created_answer(task: EmulatedTask) -> dict[str, Any]:
    """``data`` of the create answer (§8.4): ``id, status, create_time, update_time, external_id``."""
    millis = int(task.created * 1000)
    return {
        "id": task.task_id,
        "status": "submitted",
        "create_time": millis,
        "update_time": millis,
        "external_id": task.external_task_id,
    }


def status_of(task: EmulatedTask, config: EmulatorConfig, now: float | None = None) -> str:
    status = task.status(config, time.time() if now is None else now)
    return STATUS.get(status, status)


def render_new(
    task: EmulatedTask, config: EmulatorConfig, results_base: str, now: float | None = None
) -> dict[str, Any]:
    """The task object (§8.5) as of ``now``: outputs and billing only once it succeeded."""
    status = task.status(config, time.time() if now is None else now)
    outputs: list[dict[str, Any]] = []
    charges: list[dict[str, Any]] = []
    if status == "succeed":
        base = f"{results_base}/{task.task_id}"
        for video_id in task.video_ids:
            video: dict[str, Any] = {"type": "video", "id": video_id, "url": f"{base}/{video_id}.mp4"}
            if watermarked(task):
                video["watermark_url"] = media.watermark_name(video["url"])
            video["duration"] = f"{task.duration:.1f}"
            outputs.append(video)
        amount = f"{units(task, config):.2f}".rstrip("0").rstrip(".") or "0"
        charges.append({"charge_type": "unit", "amount": amount, "package_type": "video"})
    return {
        "id": task.task_id,
        "status": STATUS.get(status, status),
        "message": task.fail_message if status == "failed" and task.fail_message else "",
        "create_time": int(task.created * 1000),
        "update_time": int(_changed(task, config, status) * 1000),
        "external_id": task.external_task_id,
        "outputs": outputs,
        "billing": charges,
    }


async def new_result_file(task: EmulatedTask, name: str, config: EmulatorConfig) -> web.Response:
    """``GET /results/{task_id}/{video_id}[-watermark].mp4`` of a succeeded new-design task."""
    stem, _, ext = name.rpartition(".")
    if watermarked(task):
        stem = stem.removesuffix(media.WATERMARK_SUFFIX)
    if task.status(config) != "succeed" or stem not in task.video_ids or ext != "mp4":
        raise web.HTTPNotFound()
    made = spec(task)
    width, height = new_media.frame_size(made.resolution, made.aspect_ratio)
    body = await asyncio.get_running_loop().run_in_executor(
        None, new_media.render_mp4, round(task.duration, 1), width, height, made.sound
    )
    return web.Response(body=body, content_type=media.CONTENT_TYPES["mp4"])
