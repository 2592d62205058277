"""A task as Kling shows it: status by elapsed time, result URLs, and the legacy or new-format body.

Contract: docs/kling-api.md#task-object and docs/kling-api.md#task-statuses.
"""

from __future__ import annotations

import time
from typing import Any

from kling_emulator import billing, media, outputs
from kling_emulator.state import EmulatedTask, EmulatorConfig


def _prompts(body: dict[str, Any]) -> str:
    return " ".join(str(body.get(k) or "") for k in ("prompt", "sound_effect_prompt", "bgm_prompt"))


# ---------------------------------------------------------------------------- rendering


def _render_lifecycle(
    task: EmulatedTask, config: EmulatorConfig, results_base: str, now: float | None = None
) -> dict[str, Any]:
    """The task's status, times, results and deductions as of ``now`` (see ``render_task``)."""
    status = task.status(config, time.time() if now is None else now)
    changed = task.created
    if status == "processing":
        changed = task.created + config.submitted_seconds
    elif status in ("succeed", "failed"):
        changed = task.finishes_at(config)
    out: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": status,
        "task_status_msg": task.fail_message if status == "failed" else "",
        "task_info": {"external_task_id": task.external_task_id},
        "created_at": int(task.created * 1000),
        "updated_at": int(changed * 1000),
    }
    if status == "failed":
        out["task_result"] = {}
    elif status == "succeed":
        seconds = f"{task.duration:.1f}"
        base = f"{results_base}/{task.task_id}"
        out["task_result"] = {
            "videos": [
                {"id": vid, "url": f"{base}/{vid}.mp4", "duration": seconds} for vid in task.video_ids
            ],
            "audios": [
                {
                    "id": aid,
                    "url_mp3": f"{base}/{aid}.mp3",
                    "url_wav": f"{base}/{aid}.wav",
                    "duration_mp3": seconds,
                    "duration_wav": seconds,
                }
                for aid in task.audio_ids
            ],
        }
        if task.result is not None:  # speech, lip-sync, avatar, image and effect tasks
            out["task_result"] = outputs.absolute(task.result, results_base)
        if task.units is not None:
            out.update(billing.unit_deductions(task.units))
        else:
            out.update(billing.deductions(task.duration, config.units_per_second))
    return out


def render_task(
    task: EmulatedTask, config: EmulatorConfig, results_base: str, now: float | None = None
) -> dict[str, Any]:
    """The task object as Kling answers it (and POSTs it to callbacks), as of ``now``.

    Per endpoint: text-to-audio results carry ``audios`` only, video results ``videos`` only
    (with ``watermark_url`` when ``watermark_info.enabled``), video-to-audio both, plus the
    source video in ``task_info.parent_video``.
    """
    out = _render_lifecycle(task, config, results_base, now)
    if task.parent_video is not None:
        out["task_info"]["parent_video"] = dict(task.parent_video)
    watermark = task.request.get("watermark_info")
    if isinstance(watermark, dict):
        out["watermark_info"] = {"enabled": bool(watermark.get("enabled"))}
    result = out.get("task_result")
    if result:
        if task.kind == "text-to-audio":
            result.pop("videos", None)
        elif task.kind in ("text2video", "image2video"):
            result.pop("audios", None)
        if media.watermarked(task.request):
            for video in result.get("videos", []):
                video["watermark_url"] = media.watermark_name(video["url"])
    return out
