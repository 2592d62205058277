"""Advanced lip-sync and avatar tasks (KLING_API §10.2, §11): their rules and talking result videos.

A lip-sync video lasts as long as the source video and its audio track speaks where the cropped
audio was inserted; an avatar video lasts as long as its audio and speaks throughout. Prices:
lip-sync 0.5 units per 5 s, avatar 0.4 units/s in ``std`` and 0.8 in ``pro`` (KLING_API §10.2, §11).
The fail marker (``EmulatorConfig.fail_marker``) fails an avatar task in its ``prompt`` and a
lip-sync task, which has no prompt, in its ``external_task_id``.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from kling_emulator import outputs
from kling_emulator.field_checks import choice, given, invalid, number, text
from kling_emulator.tasks_common import (
    DAY,
    Host,
    audio_seconds,
    common_fields,
    create_task,
    image_field,
    read_body,
    video_result,
    watermark,
)

MIN_CROP_MS = 2000  # cropped audio >= 2 s
MIN_OVERLAP_MS = 2000  # overlap with the face's interval >= 2 s
LIP_SYNC_UNITS_PER_SECOND = 0.1
AVATAR_UNITS_PER_SECOND = {"std": 0.4, "pro": 0.8}
TIMES = ("sound_start_time", "sound_end_time", "sound_insert_time")


def _session(host: Host, owner: str, session_id: str) -> Any:
    session = host.store.tasks.get(session_id)
    if (
        session is None
        or session.kind != "identify-face"
        or session.owner != owner
        or time.time() - session.created > DAY
    ):
        raise invalid(f"session_id {session_id} not found or expired (identify-face sessions last 24 hours)")
    return session


def _face_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("face_choose")
    if not isinstance(choices, list) or not choices:
        raise invalid("face_choose is required: an array with one face")
    if len(choices) != 1:
        raise invalid(f"face_choose has {len(choices)} items; only one person lip-sync is supported")
    if not isinstance(choices[0], dict):
        raise invalid("face_choose[0] must be an object")
    return choices[0]


def _times(face: dict[str, Any], where: str) -> tuple[int, int, int]:
    values = []
    for name in TIMES:
        value = face.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise invalid(f"{where}{name} is required: whole milliseconds >= 0 (got {value!r})")
        values.append(value)
    return values[0], values[1], values[2]


async def advanced_lip_sync(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /v1/videos/advanced-lip-sync``: an async task making the session's video speak."""
    body = await read_body(host, request)
    external_id = common_fields(body)
    watermark(body)
    session_id = text(body, "session_id", required=True)
    assert session_id is not None
    session = _session(host, owner, session_id)
    face = _face_choice(body)
    where = "face_choose[0]."
    face_id = text(face, "face_id", required=True, where=where)
    faces = {f["face_id"]: f for f in (session.result or {}).get("face_data", [])}
    if face_id not in faces:
        raise invalid(f"{where}face_id {face_id!r} is not a face of session {session_id} ({sorted(faces)})")
    start, end, insert = _times(face, where)
    for name in ("sound_volume", "original_audio_volume"):
        if given(face, name):
            number(face[name], where + name, 0.0, 2.0)
    audio_ms = round(await audio_seconds(host, owner, face, 2.0, 60.0, where) * 1000)
    if end > audio_ms:
        raise invalid(f"{where}sound_end_time {end} ms is past the end of the audio ({audio_ms} ms)")
    crop = end - start
    if crop < MIN_CROP_MS:
        raise invalid(f"{where}sound_start_time..sound_end_time must keep at least 2 s of audio ({crop} ms)")
    video_ms = round(session.duration * 1000)
    if insert + crop > video_ms:
        raise invalid(
            f"{where}sound_insert_time: the audio ({insert}-{insert + crop} ms) must stay inside the video"
            f" (0-{video_ms} ms)"
        )
    face_start, face_end = faces[face_id]["start_time"], faces[face_id]["end_time"]
    overlap = min(insert + crop, face_end) - max(insert, face_start)
    if overlap < MIN_OVERLAP_MS:
        raise invalid(
            f"{where}sound_insert_time: the audio ({insert}-{insert + crop} ms) must overlap face {face_id}"
            f" ({face_start}-{face_end} ms) by at least 2 s (overlap {max(0, overlap)} ms)"
        )
    seconds = session.duration
    units = round(seconds * LIP_SYNC_UNITS_PER_SECOND, 2)
    host._admit(owner, external_id, units=units)
    task_id, video_id = host.store.new_id(), host.store.new_id()
    return create_task(
        host,
        request,
        kind,
        owner,
        body,
        task_id=task_id,
        seconds=seconds,
        units=units,
        result=video_result(task_id, video_id, seconds),
        files={f"{video_id}.mp4": outputs.talking_video(seconds, [[insert / 1000, crop / 1000]])},
        video_ids=[video_id],
        parent_video=dict(session.parent_video or {}),
        fail_text=external_id,  # no prompt here: the fail marker goes in external_task_id
    )


async def avatar(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /v1/videos/avatar/image2video``: a portrait that says the audio, as long as the audio."""
    body = await read_body(host, request)
    external_id = common_fields(body)
    watermark(body)
    image_field(body.get("image"), "image")
    prompt = text(body, "prompt", 2500)
    mode = choice(body, "mode", ("std", "pro"), default="std") or "std"
    audio = await audio_seconds(host, owner, body, 2.0, 300.0)
    seconds = round(audio, 1)
    units = round(seconds * AVATAR_UNITS_PER_SECOND[mode], 2)
    host._admit(owner, external_id, units=units)
    task_id, video_id = host.store.new_id(), host.store.new_id()
    return create_task(
        host,
        request,
        kind,
        owner,
        body,
        task_id=task_id,
        seconds=seconds,
        units=units,
        result=video_result(task_id, video_id, seconds),
        files={f"{video_id}.mp4": outputs.talking_video(seconds, [[0.0, audio]])},
        video_ids=[video_id],
        fail_text=prompt,
    )
