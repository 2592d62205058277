"""The kling_image_to_clip example DAG end to end with ``dag.test()`` against the emulator."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.dags.test_pipeline import container_seconds, streams

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_image_to_clip_dag_animates_each_image_and_publishes_clips_with_sound(
    airflow_db: Path,
    kling_conn: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trigger_runs: list[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")
    dag = load_dag(airflow_db, "kling_image_to_clip")
    run = dag.test(run_conf={"images": 2, "aspect_ratio": "9:16", "destination": str(tmp_path)})
    assert run.state == "success"
    tasks = list(kling_conn.emulator.store.tasks.values())
    [gen] = [t for t in tasks if t.kind == "image-generation"]
    clips = [t for t in tasks if t.kind == "image2video"]
    sounds = [t for t in tasks if t.kind == "video-to-audio"]
    assert gen.request["n"] == 2 and gen.request["aspect_ratio"] == "9:16"
    assert gen.request["model_name"] == "kling-v3"
    # One clip per image, each animating its own image (mapped over the image URLs).
    image_urls = sorted(c.request["image"] for c in clips)
    assert len(clips) == 2 and len(set(image_urls)) == 2
    assert all(url.endswith(("image-0.png", "image-1.png")) for url in image_urls)
    assert sorted(s.request["video_id"] for s in sounds) == sorted(c.video_ids[0] for c in clips)
    assert len(trigger_runs) >= 5  # every Kling step waited on the triggerer (deferrable)
    # Published: the key images (9:16 PNGs), each clip, its sound and the clip with that sound.
    for index in (0, 1):
        width, height = png_size(tmp_path / f"{gen.task_id}-{index}.png")
        assert width * 16 == height * 9
    for clip, sound in zip(
        sorted(clips, key=lambda c: c.video_ids[0]),
        sorted(sounds, key=lambda s: s.request["video_id"]),
        strict=True,
    ):
        assert sound.request["video_id"] == clip.video_ids[0]
        # Kling's video-to-audio answer carries the clip with its new sound: published as is.
        video_id, audio_id = sound.video_ids[0], sound.audio_ids[0]
        clip_with_sound = tmp_path / f"{video_id}.mp4"
        assert streams(clip_with_sound).keys() == {"video", "audio"}
        assert container_seconds(clip_with_sound) == pytest.approx(5.0, abs=0.15)
        assert not list(tmp_path.glob(f"{video_id}-*.mp4"))  # nothing muxed: the sound is already in
        assert (tmp_path / f"{audio_id}.wav").is_file()
