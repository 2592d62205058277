"""The emulator serves real, playable media, and checks a ``video_url`` the way Kling does."""

from __future__ import annotations

import asyncio
import io
import struct
import time
from typing import Any

import av
import numpy as np
import pytest
import requests

from kling_emulator import probe
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_API_KEY, SAMPLE_VIDEO_ID, SAMPLE_VIDEO_SECONDS

V2A = "/v1/audio/video-to-audio"
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def submit(server: EmulatorServer, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=AUTH, timeout=30)


def finished(server: EmulatorServer, path: str, task_id: str) -> dict[str, Any]:
    for _ in range(100):
        data = requests.get(f"{server.url}{path}/{task_id}", headers=AUTH, timeout=10).json()["data"]
        if data["task_status"] == "succeed":
            return data["task_result"]
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


def media_info(url: str) -> dict[str, float]:
    """Stream type -> duration (s) of the file behind ``url``, as PyAV decodes it."""
    body = requests.get(url, timeout=10).content
    with av.open(io.BytesIO(body)) as container:
        info = {s.type: float(s.duration * s.time_base) for s in container.streams}
        assert sum(1 for _ in container.decode(*container.streams)) > 0  # it really decodes
    return info


def test_text2video_result_is_an_h264_mp4_of_the_requested_length(emulator: EmulatorServer) -> None:
    task = submit(emulator, "/v1/videos/text2video", {"prompt": "A kite", "duration": "10"}).json()["data"]
    [video] = finished(emulator, "/v1/videos/text2video", task["task_id"])["videos"]
    assert media_info(video["url"]) == {"video": pytest.approx(10.0, abs=0.05)}


def test_video_to_audio_results_last_as_long_as_the_source_video(emulator: EmulatorServer) -> None:
    task = submit(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID}).json()["data"]
    [audio] = finished(emulator, V2A, task["task_id"])["audios"]
    for url in (audio["url_mp3"], audio["url_wav"]):
        assert media_info(url) == {"audio": pytest.approx(SAMPLE_VIDEO_SECONDS, abs=0.05)}


def test_video_url_is_fetched_and_its_real_length_used(emulator: EmulatorServer) -> None:
    url = f"{emulator.url}/samples/sample-7.5s.mp4"
    response = submit(emulator, V2A, {"video_url": url})
    assert response.status_code == 200, response.text
    result = finished(emulator, V2A, response.json()["data"]["task_id"])
    assert result["audios"][0]["duration_wav"] == "7.5"
    assert media_info(result["audios"][0]["url_wav"]) == {"audio": pytest.approx(7.5, abs=0.05)}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sample-2.9s.mp4", "between 3.0 and 20.0 seconds"),
        ("sample-20.5s.mp4", "between 3.0 and 20.0 seconds"),
        ("sample-5s.wav", "must be an MP4 or MOV"),
        ("missing.mp4", "could not be fetched (HTTP 404)"),
    ],
)
def test_bad_video_url_is_rejected_before_a_task_exists(
    emulator: EmulatorServer, name: str, message: str
) -> None:
    response = submit(emulator, V2A, {"video_url": f"{emulator.url}/samples/{name}"})
    assert response.status_code == 400
    assert response.json()["code"] == 1201
    assert message in response.json()["message"]
    assert emulator.emulator.stats.submits == 0 and not emulator.emulator.store.tasks


def test_probe_refuses_files_over_the_size_limit(emulator: EmulatorServer) -> None:
    with pytest.raises(probe.ProbeError, match="exceeds"):
        asyncio.run(probe.fetch(f"{emulator.url}/samples/sample-5s.mp4", max_bytes=1000))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


@pytest.mark.parametrize("after", [b"", _box(b"free", b"\x01" * 40)], ids=["at-end", "before-other-box"])
@pytest.mark.parametrize(
    "mvhd", [b"", b"\x00" * 10, b"\x01" + b"\x00" * 22], ids=["empty", "v0-cut", "v1-cut"]
)
def test_probe_refuses_a_cut_movie_header(mvhd: bytes, after: bytes) -> None:
    """A 1201 for the caller, not an emulator 500 nor a duration read from the next box."""
    data = _box(b"ftyp", b"isom") + _box(b"moov", _box(b"mvhd", mvhd) + after)
    with pytest.raises(probe.ProbeError, match="no readable duration"):
        probe.mp4_seconds(data)


@pytest.mark.parametrize("duration", ["abc", [1], True, -5, 1e9, "nan", "inf", 2.9, 10.1, "5", 4.25, None])
def test_text_to_audio_duration_out_of_range_is_a_1201(emulator: EmulatorServer, duration: Any) -> None:
    """Not an emulator 500, nor a task whose result file would take hours (or forever) to render."""
    response = submit(emulator, "/v1/audio/text-to-audio", {"prompt": "Rain", "duration": duration})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 1201
    assert not emulator.emulator.store.tasks


def test_text_to_audio_result_lasts_the_requested_seconds(emulator: EmulatorServer) -> None:
    task = submit(emulator, "/v1/audio/text-to-audio", {"prompt": "Rain", "duration": 3.5}).json()["data"]
    [audio] = finished(emulator, "/v1/audio/text-to-audio", task["task_id"])["audios"]
    assert media_info(audio["url_wav"]) == {"audio": pytest.approx(3.5, abs=0.05)}


def test_a_duplicate_external_id_is_refused_before_its_video_url_is_fetched(emulator: EmulatorServer) -> None:
    body = {"video_url": f"{emulator.url}/samples/sample-5s.mp4", "external_task_id": "once"}
    assert submit(emulator, V2A, body).status_code == 200
    again = submit(emulator, V2A, body)
    assert again.json()["code"] == 1201 and "already exists" in again.json()["message"]
    assert emulator.emulator.stats.by_route["GET /samples/{name}"] == 1, (
        "the refused submit fetched the video"
    )


def test_a_bad_config_patch_is_a_400_not_a_500(emulator: EmulatorServer) -> None:
    for patch in ({"faults": [{"no_such_field": 1}]}, ["not", "an", "object"]):
        response = requests.post(emulator.root_url + "/_emulator/config", json=patch, timeout=10)
        assert response.status_code == 400, response.text


def test_a_file_asked_for_by_many_at_once_is_rendered_once(emulator: EmulatorServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from kling_emulator import media

    url = f"{emulator.url}/samples/sample-17.3s.wav"  # a length no other test renders
    before = media._render.cache_info().misses
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda _: requests.get(url, timeout=30).content, range(4)))
    assert len(set(bodies)) == 1 and len(bodies[0]) > 17 * media.SAMPLE_RATE
    assert media._render.cache_info().misses - before == 1


def decoded_audio(url: str) -> tuple[np.ndarray, int]:
    """The first audio stream of the file behind ``url`` as mono float samples, and its rate."""
    body = requests.get(url, timeout=10).content
    with av.open(io.BytesIO(body)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().astype(np.float64).reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(chunks), stream.rate


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_video_to_audio_result_video_carries_the_generated_sound(emulator: EmulatorServer) -> None:
    """Kling returns the source video WITH the sound: a video and an audio track, both full length."""
    made = submit(emulator, "/v1/videos/text2video", {"prompt": "A kite", "duration": "5"}).json()["data"]
    [source] = finished(emulator, "/v1/videos/text2video", made["task_id"])["videos"]
    task = submit(emulator, V2A, {"video_id": source["id"]}).json()["data"]
    result = finished(emulator, V2A, task["task_id"])
    [video], [audio] = result["videos"], result["audios"]

    assert media_info(source["url"]) == {"video": pytest.approx(5.0, abs=0.05)}  # the source stays silent
    assert media_info(video["url"]) == {
        "video": pytest.approx(5.0, abs=0.05),
        "audio": pytest.approx(5.0, abs=0.05),
    }
    track, rate = decoded_audio(video["url"])
    assert len(track) / rate == pytest.approx(5.0, abs=0.05)
    assert np.sqrt(np.mean(track**2)) > 0.05, "the sound track is silent"
    # The same sound as the task's audio file, not just any noise.
    sound, sound_rate = decoded_audio(audio["url_mp3"])
    assert peak_hz(track, rate) == pytest.approx(peak_hz(sound, sound_rate), abs=2.0)
    video_bytes = requests.get(video["url"], timeout=10).content
    assert video_bytes != requests.get(source["url"], timeout=10).content


def test_sound_sample_is_the_video_to_audio_result_and_plain_samples_stay_silent(
    emulator: EmulatorServer,
) -> None:
    url = f"{emulator.url}/samples/sample-7.5s.mp4"
    task = submit(emulator, V2A, {"video_url": url}).json()["data"]
    [video] = finished(emulator, V2A, task["task_id"])["videos"]
    sounded = f"{emulator.url}/samples/sample-7.5s-sound.mp4"
    assert requests.get(sounded, timeout=10).content == requests.get(video["url"], timeout=10).content
    assert media_info(sounded).keys() == {"video", "audio"}
    assert media_info(url) == {"video": pytest.approx(7.5, abs=0.05)}
    assert requests.get(f"{emulator.url}/samples/sample-7.5s-sound.wav", timeout=10).status_code == 404
