"""What the speech, lip-sync, avatar, image and effect endpoints share: body, media lookups, task creation.

The emulator (``app.KlingEmulator``) is passed in as a :class:`Host`; these modules do not import
``app`` (it imports them to register their routes).
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any, Protocol

from aiohttp import web

from kling_emulator import billing, bodies, probe, speech_media
from kling_emulator.errors import envelope
from kling_emulator.field_checks import invalid, text, url
from kling_emulator.images import ImageProblem, check_image
from kling_emulator.render import render_task
from kling_emulator.state import EmulatedTask, EmulatorConfig, TaskStore, pack_of
from kling_emulator.stats import Stats

DAY = 86_400.0
# A TTS audio_id is accepted by lip-sync and avatar for 30 days (KLING_API §9.3).
AUDIO_ID_DAYS = 30


class Host(Protocol):
    """The parts of ``KlingEmulator`` the new endpoints use."""

    config: EmulatorConfig
    store: TaskStore
    ledger: billing.Ledger
    stats: Stats

    def _results_base(self, request: web.Request) -> str: ...

    def _admit(
        self, owner: str, external_id: str, slots: int = 1, *, units: float | None = None, pack: str = "video"
    ) -> None: ...

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def _send_callbacks(self, task: EmulatedTask, results_base: str) -> Coroutine[Any, Any, None]: ...

    def _fail_message(self, body: dict[str, Any], external_id: str) -> str | None: ...


async def read_body(host: Host, request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; a bad one answers Kling's envelope (``bodies.json_object``)."""
    return await bodies.json_object(request, host.config.max_body_bytes)


def common_fields(body: dict[str, Any]) -> str:
    """``external_task_id`` (returned) and ``callback_url`` of an async create (KLING_API §2.1)."""
    url(body, "callback_url")
    return text(body, "external_task_id", 128) or ""


def image_field(value: Any, name: str, required: bool = True) -> str | None:
    """An image given as an http(s) URL or raw Base64 (jpg/png, <= 10 MB, >= 300 px, 1:2.5-2.5:1)."""
    if value is None or value == "":
        if required:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string (an http(s) URL or Base64 image data)")
    if not value.startswith(("http://", "https://")):
        try:
            check_image(value)
        except ImageProblem as problem:
            raise invalid(f"{name} {problem}") from None
    return value


def tts_audio_seconds(store: TaskStore, owner: str, audio_id: str, name: str) -> float:
    """Length of a TTS audio this owner made within 30 days; 1201 when there is none."""
    for task in store.tasks.values():
        mine = task.kind == "tts" and audio_id in task.audio_ids and task.owner == owner
        if mine and time.time() - task.created <= AUDIO_ID_DAYS * DAY and task.fail_message is None:
            return task.duration
    raise invalid(f"{name} {audio_id} not found (an audio made by TTS within 30 days)")


async def sound_file_seconds(value: str, name: str) -> float:
    """Length of a sound file given as an http(s) URL (fetched) or Base64 data."""
    if value.startswith(("http://", "https://")):
        try:
            data = await probe.fetch(value, speech_media.MAX_SOUND_BYTES)
        except probe.ProbeError as exc:
            raise invalid(str(exc).replace("video_url", name)) from None
    else:
        import base64
        import binascii

        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(f"{name} must be an http(s) URL or Base64 audio data") from None
    try:
        return speech_media.sound_seconds(data)
    except speech_media.SoundProblem as problem:
        raise invalid(f"{name} {problem}") from None


async def audio_seconds(
    host: Host, owner: str, source: dict[str, Any], low: float, high: float, where: str = ""
) -> float:
    """Length of exactly one of ``audio_id`` / ``sound_file`` in ``source``, within ``low``..``high`` s."""
    audio_id = text(source, "audio_id", where=where)
    sound_file = text(source, "sound_file", where=where)
    if (audio_id is None) == (sound_file is None):
        raise invalid(f"Exactly one of {where}audio_id or {where}sound_file must be provided")
    if audio_id is not None:
        seconds = tts_audio_seconds(host.store, owner, audio_id, f"{where}audio_id")
        name = f"{where}audio_id"
    else:
        assert sound_file is not None
        seconds = await sound_file_seconds(sound_file, f"{where}sound_file")
        name = f"{where}sound_file"
    if not low <= round(seconds, 3) <= high:
        raise invalid(f"{name}: the audio must last {low:g} to {high:g} seconds (it lasts {seconds:.2f} s)")
    return seconds


def source_video(store: TaskStore, video_id: str) -> tuple[float, EmulatedTask | None]:
    """A Kling video's length and the task that made it (None for the sample video)."""
    seconds = store.videos.get(video_id)
    if seconds is None:
        raise invalid(f"video_id {video_id} not found (or older than 30 days)")
    maker = next((t for t in store.tasks.values() if video_id in t.video_ids), None)
    return seconds, maker


def create_task(
    host: Host,
    request: web.Request,
    kind: str,
    owner: str,
    body: dict[str, Any],
    *,
    task_id: str,
    seconds: float,
    units: float,
    result: dict[str, Any],
    files: dict[str, dict[str, Any]],
    video_ids: list[str] | None = None,
    parent_video: dict[str, str] | None = None,
    slots: int = 1,
    fail_text: str | None = None,
) -> web.Response:
    """Create an async task (already validated and admitted) and answer it as Kling does."""
    external_id = str(body.get("external_task_id") or "")
    fail_message = host._fail_message({"prompt": fail_text} if fail_text else body, external_id)
    task = EmulatedTask(
        task_id=task_id,
        kind=kind,
        owner=owner,
        external_task_id=external_id,
        request=body,
        created=time.time(),
        duration=seconds,
        fail_message=fail_message,
        callback_url=body.get("callback_url") or None,
        video_ids=video_ids or [],
        parent_video=parent_video,
        slots=slots,
        units=units,
        result=result,
        files=files,
    )
    base = host._results_base(request)
    for video_id in task.video_ids:  # a Kling video: identify-face and video-to-audio take it later
        host.store.videos[video_id] = seconds
        host.store.video_urls[video_id] = f"{base}/{task.task_id}/{video_id}.mp4"
    host.store.add(task)
    host.stats.submits += 1
    held = host.store.running(owner, host.config, pack_of(kind))
    host.stats.peak_running = max(host.stats.peak_running, held)
    if fail_message is None:
        host.ledger.record(task.task_id, task.finishes_at(host.config), units)
    if task.callback_url:
        host._spawn(host._send_callbacks(task, base))
    return web.json_response(envelope(0, "SUCCEED", render_task(task, host.config, base)))


def watermark(body: dict[str, Any]) -> None:
    """``watermark_info``: only ``{"enabled": bool}`` (KLING_API §2.3)."""
    value = body.get("watermark_info")
    if value is None:
        return
    if not isinstance(value, dict) or set(value) - {"enabled"} or not isinstance(value.get("enabled"), bool):
        raise invalid('watermark_info must be {"enabled": true|false}')


def whole(body: dict[str, Any], name: str, low: int, high: int, default: int, *, where: str = "") -> int:
    """An integer field (not a bool, not a string) within ``low``..``high``."""
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"{where}{name} must be a whole number from {low} to {high} (got {value!r})")
    return value


def video_result(task_id: str, video_id: str, seconds: float) -> dict[str, Any]:
    """``task_result`` of a one-video task (URL relative to the results base)."""
    return {"videos": [{"id": video_id, "url": f"{task_id}/{video_id}.mp4", "duration": f"{seconds:.1f}"}]}
