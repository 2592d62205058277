"""The kling_presenter example DAG end to end with ``dag.test()`` against the emulator."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.dags.test_pipeline import container_seconds, streams
from tests.hooks.test_speech_hook import by_route

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e

SCRIPT = "Welcome aboard. Tonight the ferry crosses to the island, and the sea is calm."  # 77 chars


def test_presenter_dag_publishes_a_talking_video(
    airflow_db: Path,
    kling_conn: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trigger_runs: list[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")
    dag = load_dag(airflow_db, "kling_presenter")
    run = dag.test(
        run_conf={"script": SCRIPT, "voice_speed": 1.3, "mode": "pro", "destination": str(tmp_path)}
    )
    assert run.state == "success"
    tasks = kling_conn.emulator.store.tasks.values()
    [speech] = [t for t in tasks if t.kind == "tts"]
    [avatar] = [t for t in tasks if t.kind == "avatar"]
    [portrait] = [t for t in tasks if t.kind == "image-generation"]
    assert portrait.request["n"] == 1 and portrait.request["resolution"] == "2k"
    # The avatar speaks the generated portrait: its image is the generation's own result URL.
    assert avatar.request["image"].startswith(kling_conn.url) and portrait.task_id in avatar.request["image"]
    assert speech.request == {
        "text": SCRIPT,
        "voice_id": "oversea_male1",
        "voice_language": "en",
        "voice_speed": 1.3,
    }
    assert avatar.request["audio_id"] == speech.audio_ids[0] and avatar.request["mode"] == "pro"
    assert sorted(trigger_runs) == sorted([portrait.task_id, avatar.task_id])  # both waits deferred
    assert by_route(kling_conn)["POST /v1/audio/tts"] == 1
    published = tmp_path / f"{avatar.video_ids[0]}.mp4"
    seconds = round(len(SCRIPT) / (15 * 1.3), 1)  # the emulator's speech rate: 15 characters a second
    assert streams(published).keys() == {"video", "audio"}  # the avatar speaks: its video has sound
    assert container_seconds(published) == pytest.approx(seconds, abs=0.15)
    assert speaking_share(published) > 0.3  # talking, not silence


def speaking_share(path: Path) -> float:
    """The share of 50 ms windows of the audio track loud enough to be speech."""
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].codec_context.sample_rate
        samples = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
    window = rate // 20
    frames = samples[: samples.size // window * window].reshape(-1, window).astype(float)
    return float((np.sqrt((frames**2).mean(axis=1)) > 0.05).mean())
