"""Laying an audio track (music bed, voice-over) over a published video, as one published MP4."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_kling.publishing.download import (
    PublishedFile,
    copy_file,
    file_size,
    local_file,
    safe_name,
)


def lay_track(
    published: list[PublishedFile],
    entry: tuple[str, str, str],
    video_entry: tuple[str, str],
    *,
    over: PublishedFile | None = None,
    copy: Callable[[str, str, str, str], PublishedFile],
    root: ObjectStoragePath,
    conn_id: str | None,
    kind: str,
    label: str,
    lay: Callable[[str, str, str], str],
    log: Any,
) -> list[PublishedFile]:
    """Publish the audio ``entry`` (id, format, url) and the video (id, url) unless already
    published, then ``<video_id>-<label>-<audio_id>.mp4`` made by ``lay(video_path, audio_path,
    out_path)`` (which returns what it did, for the log). ``copy(kind, id, format, url)``
    publishes one file. ``over``: an MP4 published in this run (e.g. the music-bed one) to lay
    the track over instead of the video. A target already there is complete (written
    atomically): not made again.
    """
    audio_id, audio_format, audio_url = entry
    video_id, video_url = video_entry
    extra: list[PublishedFile] = []
    audio = next(
        (f for f in published if f.kind == "audio" and (f.kling_id, f.format) == (audio_id, audio_format)),
        None,
    )
    if audio is None:  # keep the audio itself too: Kling deletes it after 30 days
        audio = copy("audio", audio_id, audio_format, audio_url)
        extra.append(audio)
    video = over or next((f for f in published if f.kind == "video" and f.kling_id == video_id), None)
    if video is None:
        video = copy("video", video_id, "mp4", video_url)
        extra.append(video)
    if over is not None:
        video_id = Path(over.path).stem
    target = root / safe_name(f"{video_id}-{label}-{audio_id}", "mp4")
    existing = file_size(target)
    if existing is not None:
        log.info("%s already exists: not made again", target)
        return [*extra, PublishedFile(kind, audio_id, "mp4", str(target), existing, False)]
    with (
        local_file(ObjectStoragePath(video.path, conn_id=conn_id)) as video_path,
        local_file(ObjectStoragePath(audio.path, conn_id=conn_id)) as audio_path,
        tempfile.TemporaryDirectory(prefix=f"kling-{label}-") as tmp,
    ):
        out = Path(tmp) / target.name
        did = lay(video_path, audio_path, str(out))
        size = copy_file(out, target)
    log.info("Laid %s %s over %s into %s: %s", kind, audio_id, video_id, target, did)
    return [*extra, PublishedFile(kind, audio_id, "mp4", str(target), size, True)]
