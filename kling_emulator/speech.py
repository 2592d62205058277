"""Synchronous speech endpoints: TTS, the preset voices, identify-face (KLING_API §9.1, §9.2, §10.1).

TTS answers the finished task in its create answer; its speech lasts ``len(text) / (15 *
voice_speed)`` seconds (at least 1 s, 0.1 s steps). Identify-face finds faces by the source
video's text (the prompt of the task that made ``video_id``, or the ``video_url`` itself):
"no face", "no-face" or "landscape" there means no face; "two people", "two faces" or "2 faces"
means two faces (face "0" on screen for the first 40 % of the video, face "1" from 30 % to the
end, the longer one); anything else one face for the whole video.
"""

from __future__ import annotations

import math
import time
from typing import Any

from aiohttp import web

from kling_emulator import billing, outputs, probe
from kling_emulator.errors import KlingAPIFailure, envelope
from kling_emulator.field_checks import choice, given, invalid, text, url
from kling_emulator.render import render_task
from kling_emulator.state import EmulatedTask
from kling_emulator.tasks_common import Host, read_body, source_video

TTS_FIELDS = ("text", "voice_id", "voice_language", "voice_speed")
CHARS_PER_SECOND = 15.0
# Prices per call (KLING_API §9.1, §10.1).
TTS_UNITS = 0.05
FACE_UNITS = 0.05
# identify-face: a video_id up to 60 s; a video_url 2-60 s (KLING_API §10.1).
MAX_FACE_VIDEO_SECONDS = 60.0
MIN_FACE_VIDEO_SECONDS = 2.0
NO_FACE = ("no face", "no-face", "landscape")
TWO_FACES = ("two people", "two faces", "2 faces")
FACE_IMAGE_SIDE = 128

# (voice_id, name, language): ids from KLING_API §9.1's examples.
PRESET_VOICES = (
    ("oversea_male1", "Oversea Male", "en"),
    ("uk_boy1", "UK Boy", "en"),
    ("reader_en_m-v1", "Reader", "en"),
    ("commercial_lady_en_f-v1", "Commercial Lady", "en"),
    ("chat1_female_new-3", "Chat Female", "zh"),
    ("genshin_vindi2", "Vindi", "zh"),
    ("genshin_kirara", "Kirara", "zh"),
)


def speech_seconds(text_value: str, speed: float) -> float:
    """How long TTS of ``text_value`` lasts at ``speed``: 15 chars a second at 1.0, at least 1 s."""
    return round(max(1.0, len(text_value) / (CHARS_PER_SECOND * speed)), 1)


def _voice_speed(body: dict[str, Any]) -> float:
    """[0.8, 2.0], one decimal; values outside are rounded into the range, as Kling does."""
    if not given(body, "voice_speed"):
        return 1.0
    value = body["voice_speed"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"voice_speed must be a number from 0.8 to 2.0 (got {value!r})")
    return round(min(2.0, max(0.8, float(value))), 1)


async def tts(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /v1/audio/tts``: the finished task (or a ``failed`` one) in the create answer."""
    body = await read_body(host, request)
    extra = sorted(k for k in body if k not in TTS_FIELDS and given(body, k))
    if extra:
        raise invalid(f"{extra[0]} is not a field of /v1/audio/tts (fields: {', '.join(TTS_FIELDS)})")
    words = text(body, "text", 1000, required=True)
    assert words is not None
    if not words.strip():
        raise invalid("text is required (it is blank)")
    text(body, "voice_id", 128, required=True)
    choice(body, "voice_language", ("zh", "en"), default="zh")
    speed = _voice_speed(body)
    host._admit(owner, "", slots=0, units=TTS_UNITS)  # 1102 unless the packs cover it; no slot held
    seconds = speech_seconds(words, speed)
    task_id, audio_id = host.store.new_id(), host.store.new_id()
    fail_message = host._fail_message({"prompt": words}, words)
    audio = {"id": audio_id, "url": f"{task_id}/{audio_id}.mp3", "duration": f"{seconds:.3f}"}
    task = EmulatedTask(
        task_id=task_id,
        kind="tts",
        owner=owner,
        external_task_id="",
        request=body,
        created=time.time(),
        duration=seconds,
        fail_message=fail_message,
        audio_ids=[audio_id],
        units=TTS_UNITS,
        result={"audios": [audio]},
        files={f"{audio_id}.mp3": outputs.speech_file(seconds)},
        synchronous=True,
    )
    host.store.add(task)
    if fail_message is None:
        host.ledger.record(task_id, task.created, TTS_UNITS)
    data = render_task(task, host.config, host._results_base(request))
    data.pop("task_info", None)  # TTS has no external_task_id (KLING_API §9.1)
    return web.json_response(envelope(0, "SUCCEED", data))


async def preset_voices(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``GET /v1/general/presets-voices?pageNum=&pageSize=`` (pageSize 1-1000, KLING_API §9.2)."""
    try:
        page_num = int(request.query.get("pageNum", "1"))
        page_size = int(request.query.get("pageSize", "30"))
    except ValueError:
        raise KlingAPIFailure(1201, "pageNum and pageSize must be integers") from None
    if not 1 <= page_num <= 1000 or not 1 <= page_size <= 1000:
        raise KlingAPIFailure(1201, "pageNum must be 1..1000 and pageSize 1..1000")
    samples = host._results_base(request).removesuffix("/results") + "/samples"
    page = PRESET_VOICES[(page_num - 1) * page_size : page_num * page_size]
    trial = f"{samples}/sample-3s.mp3"
    voices = [{"voice_id": v, "voice_name": n, "trial_url": trial, "owned_by": "kling"} for v, n, _ in page]
    data = [{"task_id": "presets-voices", "task_status": "succeed", "task_result": {"voices": voices}}]
    return web.json_response(envelope(0, "SUCCEED", data))


def faces_for(description: str, seconds: float) -> list[dict[str, Any]]:
    """The faces of a video described by ``description`` (see the module docstring), times in ms."""
    lower = description.lower()
    total = round(seconds * 1000)
    if any(marker in lower for marker in NO_FACE):
        return []
    if any(marker in lower for marker in TWO_FACES):
        spans = [(0, round(total * 0.4)), (round(total * 0.3), total)]
    else:
        spans = [(0, total)]
    return [{"face_id": str(i), "start_time": start, "end_time": end} for i, (start, end) in enumerate(spans)]


def _description(host: Host, video_id: str) -> str:
    """The prompt behind a Kling video, following lip-sync / v2a tasks back to their source."""
    for _ in range(10):
        _, maker = source_video(host.store, video_id)
        if maker is None:
            return ""
        if maker.parent_video is None or maker.kind == "avatar":
            return " ".join(str(maker.request.get(k) or "") for k in ("prompt", "effect_scene"))
        video_id = maker.parent_video["id"]
    return ""


async def _video(host: Host, request: web.Request, body: dict[str, Any]) -> tuple[dict[str, str], str]:
    """``parent_video`` ``{id, url, duration}`` of the identified video and the text describing it."""
    video_id = text(body, "video_id")
    video_url = url(body, "video_url")
    if (video_id is None) == (video_url is None):
        raise invalid("Either video_id or video_url must be provided, but not both")
    if video_id is not None:
        seconds, maker = source_video(host.store, video_id)
        if maker is not None and maker.status(host.config) != "succeed":
            raise invalid(f"video_id {video_id} is not a finished video")
        if seconds > MAX_FACE_VIDEO_SECONDS:
            raise invalid(f"video_id {video_id} lasts {seconds:.1f} s; at most 60 s is allowed")
        found = host.store.video_urls.get(video_id)
        samples = host._results_base(request).removesuffix("/results") + "/samples"
        video = {"id": video_id, "url": found or f"{samples}/sample-{seconds:.1f}s.mp4"}
        return {**video, "duration": f"{seconds:.1f}"}, _description(host, video_id)
    assert video_url is not None
    try:
        seconds = await probe.video_seconds(video_url)
    except probe.ProbeError as exc:
        raise invalid(str(exc)) from None
    if not MIN_FACE_VIDEO_SECONDS <= round(seconds, 3) <= MAX_FACE_VIDEO_SECONDS:
        raise invalid(f"video_url lasts {seconds:.2f} s; it must last 2 to 60 seconds")
    return {"id": host.store.new_id(), "url": video_url, "duration": f"{seconds:.1f}"}, video_url


async def identify_face(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /v1/videos/identify-face``: ``session_id`` and ``face_data[]`` at once, billed 0.05."""
    body = await read_body(host, request)
    parent, description = await _video(host, request, body)
    host._admit(owner, "", slots=0, units=FACE_UNITS)
    seconds = float(parent["duration"])
    session_id = host.store.new_id()
    faces = faces_for(description, seconds)
    for face in faces:
        face["face_image"] = f"{session_id}/face-{face['face_id']}.png"
    side = FACE_IMAGE_SIDE
    task = EmulatedTask(
        task_id=session_id,
        kind="identify-face",
        owner=owner,
        external_task_id="",
        request=body,
        created=time.time(),
        duration=seconds,
        parent_video=parent,
        units=FACE_UNITS,
        result={"face_data": faces},
        files={f"face-{f['face_id']}.png": outputs.png(side, side, int(f["face_id"])) for f in faces},
        synchronous=True,
    )
    host.store.add(task)
    host.ledger.record(session_id, task.created, FACE_UNITS)
    data = {
        "session_id": session_id,
        **billing.unit_deductions(FACE_UNITS),
        "face_data": outputs.absolute(faces, host._results_base(request)),
    }
    return web.json_response(envelope(0, "SUCCEED", data))
