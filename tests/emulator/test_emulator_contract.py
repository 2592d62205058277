"""The emulator answers like Kling per the contract (docs/kling-api.md), over real HTTP.

Raw HTTP on purpose: these pin the server's side, which the provider is also checked against
with an independently written Kling server.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from typing import Any

import pytest
import requests

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import RetryPolicy
from kling_emulator.errors import HTTP_STATUS_FOR_CODE
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_API_KEY, SAMPLE_VIDEO_ID, Fault
from tests.conftest import conn_json, load_fixture

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
T2V, I2V = "/v1/videos/text2video", "/v1/videos/image2video"
T2A, V2A = "/v1/audio/text-to-audio", "/v1/audio/video-to-audio"
IMAGE_URL = "https://cdn.example/first-frame.png"


def post(emulator: EmulatorServer, path: str, body: Any) -> requests.Response:
    return requests.post(emulator.url + path, json=body, headers=AUTH, timeout=10)


def get(emulator: EmulatorServer, path: str) -> requests.Response:
    return requests.get(emulator.url + path, headers=AUTH, timeout=10)


def refused(response: requests.Response, *words: str, code: int = 1201) -> str:
    """Assert a Kling refusal with ``code`` and its HTTP status; return the message."""
    assert response.json()["code"] == code, response.text
    assert response.status_code == HTTP_STATUS_FOR_CODE[code]
    message: str = response.json()["message"]
    for word in words:
        assert word in message, message
    return message


def finished(emulator: EmulatorServer, path: str, task_id: str) -> dict[str, Any]:
    for _ in range(200):
        task: dict[str, Any] = get(emulator, f"{path}/{task_id}").json()["data"]
        if task["task_status"] in ("succeed", "failed"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def png(width: int, height: int) -> str:
    """Raw Base64 of a real (tiny-payload) PNG of ``width`` x ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + b"\x00" * ((width + 7) // 8) for _ in range(height)))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def jpeg(width: int, height: int) -> str:
    """Raw Base64 of a real JPEG (encoded by FFmpeg's mjpeg through PyAV)."""
    import io

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mjpeg") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return base64.b64encode(buf.getvalue()).decode()


def test_base64_jpeg_frames_are_sized_like_kling_requires(emulator: EmulatorServer) -> None:
    assert post(emulator, I2V, {"image": jpeg(640, 360)}).json()["code"] == 0
    refused(post(emulator, I2V, {"image": jpeg(320, 200)}), "image", "320x200", "300 px")
    refused(post(emulator, I2V, {"image": IMAGE_URL, "image_tail": jpeg(1280, 320)}), "image_tail", "aspect")


# ---------------------------- HTTP statuses (docs/kling-api.md#error-codes)

CONTRACT_STATUSES = {
    **dict.fromkeys((1000, 1001, 1002, 1003, 1004), 401),
    **dict.fromkeys((1100, 1101, 1102), 429),
    1103: 403,
    1200: 400,
    1201: 400,
    1202: 404,
    1203: 404,
    1300: 400,
    1301: 400,
    1302: 429,
    1303: 429,
    1304: 429,
    5000: 500,
    5001: 503,
    5002: 504,
}


@pytest.mark.parametrize(("code", "status"), sorted(CONTRACT_STATUSES.items()))
def test_each_business_code_has_the_contract_http_status(
    emulator: EmulatorServer, code: int, status: int
) -> None:
    emulator.config.inject(Fault(action="error", code=code))
    response = get(emulator, V2A)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.headers["Content-Type"].startswith("application/json")


def test_the_1303_body_has_no_data_key_like_kling_sample(emulator: EmulatorServer) -> None:
    emulator.config.inject(Fault(action="error", code=1303))
    assert set(get(emulator, V2A).json()) == set(load_fixture("error-1303-concurrency.json"))


@pytest.mark.parametrize(
    ("code", "error_class", "not_found"),
    [
        (1103, exc.KlingAccountError, False),
        (1202, exc.KlingInvalidRequestError, True),
        (1203, exc.KlingInvalidRequestError, True),
        (1304, exc.KlingIPWhitelistError, False),
        (5001, exc.KlingServerError, False),
        (5002, exc.KlingServerError, False),
    ],
)
def test_the_client_classifies_the_new_statuses_by_code(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, code: int, error_class: type, not_found: bool
) -> None:
    """1304 comes with 429 yet is no rate limit; 1203 with 404 still means "no such task"."""
    emulator.config.inject(Fault(action="error", code=code, times=20))
    monkeypatch.setenv("AIRFLOW_CONN_KLING_CONTRACT", conn_json(emulator.url))
    # A constructor argument: a policy set on the hook afterwards gives way to the connection's
    # when it loads (the default: 5 retries, 1-16 s apart, ~25 s per 5xx case).
    hook = KlingHook("kling_contract", retry=RetryPolicy(max_retries=1, min_wait=0.01, max_wait=0.01))
    with pytest.raises(error_class) as info:
        hook.get_task("video-to-audio", "some-id")
    assert info.value.http_status == CONTRACT_STATUSES[code]
    assert exc.is_not_found(info.value) is not_found
    assert info.value.transient is (code >= 5000)


def test_an_answer_without_a_code_is_classified_by_the_contract_status() -> None:
    """A bare 403 can only be 1103 (no permission), no longer the IP whitelist (now a 429)."""
    assert exc.error_class_for(None, 403) is exc.KlingAccountError
    assert exc.error_class_for(1304, 429) is exc.KlingIPWhitelistError
    assert exc.error_class_for(1103, 403) is exc.KlingAccountError
    assert exc.error_class_for(1203, 404) is exc.KlingInvalidRequestError


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/v1/no/such/endpoint", 1203),
        ("POST", "/v2/audio/video-to-audio", 1203),
        ("DELETE", V2A, 1202),
        ("PUT", f"{V2A}/123", 1202),
    ],
)
def test_unknown_routes_answer_a_kling_envelope(
    emulator: EmulatorServer, method: str, path: str, code: int
) -> None:
    response = requests.request(method, emulator.url + path, headers=AUTH, timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["request_id"] and body["message"]


def test_a_result_file_not_ready_stays_a_plain_404(emulator: EmulatorServer) -> None:
    """Only unmatched routes get the envelope: a CDN-like file URL answers as a file server does."""
    task = post(emulator, T2A, {"prompt": "Rain", "duration": 3.0}).json()["data"]
    response = requests.get(f"{emulator.url}/results/{task['task_id']}/x.wav", timeout=10)
    assert response.status_code == 404 and "code" not in response.text


# ---------------------------- video models (docs/kling-api.md#video-requests, docs/kling-api.md#video-models)

ACCEPTED_VIDEO_BODIES = {
    "v3 8 s 4k with sound": (
        T2V,
        {"model_name": "kling-v3", "prompt": "p", "duration": "8", "mode": "4k", "sound": "on"},
    ),
    "v3 3 s": (T2V, {"model_name": "kling-v3", "prompt": "p", "duration": "3"}),
    "v3 15 s": (T2V, {"model_name": "kling-v3", "prompt": "p", "duration": "15"}),
    "v2-6 pro sound": (
        T2V,
        {"model_name": "kling-v2-6", "prompt": "p", "duration": "10", "mode": "pro", "sound": "on"},
    ),
    "default model": (T2V, {"prompt": "p"}),
    "fixture body": (T2V, {**load_fixture("t2v-v3-submit-request.json"), "callback_url": ""}),
    "camera simple": (
        T2V,
        {"prompt": "p", "camera_control": {"type": "simple", "config": {"zoom": 5, "pan": 0}}},
    ),
    "camera preset": (T2V, {"prompt": "p", "camera_control": {"type": "forward_up"}}),
    "negative + cfg": (
        T2V,
        {"model_name": "kling-v1-6", "prompt": "p", "negative_prompt": "n", "cfg_scale": 0.7},
    ),
    "watermark": (T2V, {"prompt": "p", "watermark_info": {"enabled": True}}),
    "multi shot": (
        T2V,
        {
            "model_name": "kling-v3",
            "duration": "6",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [
                {"index": 1, "prompt": "a", "duration": "2"},
                {"index": 2, "prompt": "b", "duration": "4"},
            ],
        },
    ),
    "multi shot intelligence": (
        T2V,
        {"model_name": "kling-v3", "prompt": "p", "multi_shot": True, "shot_type": "intelligence"},
    ),
    "i2v tail only": (I2V, {"model_name": "kling-v3", "image_tail": IMAGE_URL}),
    "i2v base64 png": (I2V, {"image": png(640, 360)}),
    "i2v masks": (
        I2V,
        {
            "image": IMAGE_URL,
            "dynamic_masks": [{"mask": IMAGE_URL, "trajectories": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}],
        },
    ),
    "i2v v2-6 first+last pro": (
        I2V,
        {"model_name": "kling-v2-6", "image": IMAGE_URL, "image_tail": IMAGE_URL, "mode": "pro"},
    ),
    "i2v voices": (
        I2V,
        {"model_name": "kling-v3", "image": IMAGE_URL, "sound": "on", "voice_list": [{"voice_id": "v1"}]},
    ),
    "i2v elements": (
        I2V,
        {"model_name": "kling-v3", "image": IMAGE_URL, "element_list": [{"element_id": 1}] * 3},
    ),
}


@pytest.mark.parametrize(("path", "body"), ACCEPTED_VIDEO_BODIES.values(), ids=ACCEPTED_VIDEO_BODIES.keys())
def test_current_video_fields_are_accepted(emulator: EmulatorServer, path: str, body: dict[str, Any]) -> None:
    response = post(emulator, path, body)
    assert (response.status_code, response.json()["code"]) == (200, 0), response.text


@pytest.mark.parametrize(
    "model",
    [
        "kling-v1",
        "kling-v1-5",
        "kling-v1-6",
        "kling-v2-master",
        "kling-v2-1",
        "kling-v2-1-master",
        "kling-v2-5-turbo",
        "kling-v2-6",
        "kling-v3",
    ],
)
@pytest.mark.parametrize("path", [T2V, I2V])
def test_the_well_known_models_are_accepted(emulator: EmulatorServer, model: str, path: str) -> None:
    body = {
        "model_name": model,
        "prompt": "p",
        "duration": "10",
        **({"image": IMAGE_URL} if path == I2V else {}),
    }
    assert post(emulator, path, body).json()["code"] == 0


def test_a_model_that_does_not_exist_is_1203_with_404(emulator: EmulatorServer) -> None:
    refused(
        post(emulator, T2V, {"model_name": "kling-v9-imaginary", "prompt": "p"}),
        "kling-v9-imaginary",
        code=1203,
    )
    assert not emulator.emulator.store.tasks


def test_the_hook_ends_at_once_on_a_model_kling_does_not_have(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1203 at submit: no retry, no second POST, and the model named in the error."""
    from airflow_provider_kling.api.video import TextToVideoRequest

    monkeypatch.setenv("AIRFLOW_CONN_KLING_CONTRACT", conn_json(emulator.url))
    request = TextToVideoRequest.build(prompt="p", model_name="kling-v9-imaginary")
    with pytest.raises(exc.KlingInvalidRequestError, match="kling-v9-imaginary") as info:
        KlingHook("kling_contract").submit_task("text2video", request)
    assert (info.value.code, info.value.http_status) == (1203, 404)
    assert emulator.emulator.stats.by_route[f"POST {T2V}"] == 1
    assert emulator.emulator.stats.submits == 0


def test_an_extra_model_passes_with_the_generic_rules(emulator: EmulatorServer) -> None:
    emulator.config.extra_models = ["kling-v4-preview"]
    assert (
        post(emulator, T2V, {"model_name": "kling-v4-preview", "prompt": "p", "duration": "12"}).json()[
            "code"
        ]
        == 0
    )
    refused(
        post(emulator, T2V, {"model_name": "kling-v4-preview", "prompt": "p", "duration": "16"}), "duration"
    )


REFUSED_VIDEO_BODIES = {
    "v3 duration 16": (
        T2V,
        {"model_name": "kling-v3", "prompt": "p", "duration": "16"},
        ("duration", "3 to 15"),
    ),
    "v3 duration 2": (T2V, {"model_name": "kling-v3", "prompt": "p", "duration": "2"}, ("duration",)),
    "duration as int": (
        T2V,
        {"model_name": "kling-v3", "prompt": "p", "duration": 8},
        ("duration", "string"),
    ),
    "v2-6 duration 8": (
        T2V,
        {"model_name": "kling-v2-6", "prompt": "p", "duration": "8"},
        ("duration", "5 or 10"),
    ),
    "v2-6 4k": (T2V, {"model_name": "kling-v2-6", "prompt": "p", "mode": "4k"}, ("mode",)),
    "v2-6 sound std": (T2V, {"model_name": "kling-v2-6", "prompt": "p", "sound": "on"}, ("sound", "pro")),
    "v1-6 sound": (T2V, {"model_name": "kling-v1-6", "prompt": "p", "sound": "on"}, ("sound", "kling-v1-6")),
    "sound yes": (T2V, {"model_name": "kling-v3", "prompt": "p", "sound": "yes"}, ("sound",)),
    "no prompt": (T2V, {"model_name": "kling-v3"}, ("prompt", "required")),
    "long prompt": (T2V, {"prompt": "x" * 2501}, ("prompt", "2500")),
    "long negative": (T2V, {"prompt": "p", "negative_prompt": "x" * 2501}, ("negative_prompt",)),
    "cfg on v2": (
        T2V,
        {"model_name": "kling-v2-master", "prompt": "p", "cfg_scale": 0.5},
        ("cfg_scale", "kling-v2-master"),
    ),
    "cfg 1.5": (T2V, {"prompt": "p", "cfg_scale": 1.5}, ("cfg_scale",)),
    "aspect 4:3": (T2V, {"prompt": "p", "aspect_ratio": "4:3"}, ("aspect_ratio",)),
    "camera two axes": (
        T2V,
        {"prompt": "p", "camera_control": {"type": "simple", "config": {"zoom": 1, "pan": 1}}},
        ("camera_control.config", "exactly one"),
    ),
    "camera 11": (
        T2V,
        {"prompt": "p", "camera_control": {"type": "simple", "config": {"zoom": 11}}},
        ("zoom",),
    ),
    "camera config on preset": (
        T2V,
        {"prompt": "p", "camera_control": {"type": "down_back", "config": {"zoom": 1}}},
        ("camera_control.config", "simple"),
    ),
    "camera bad type": (T2V, {"prompt": "p", "camera_control": {"type": "orbit"}}, ("camera_control.type",)),
    "custom watermark": (
        T2V,
        {"prompt": "p", "watermark_info": {"enabled": True, "text": "me"}},
        ("watermark_info",),
    ),
    "watermark not bool": (
        T2V,
        {"prompt": "p", "watermark_info": {"enabled": "yes"}},
        ("watermark_info.enabled",),
    ),
    "multi shot on v2-6": (
        T2V,
        {"model_name": "kling-v2-6", "prompt": "p", "multi_shot": True, "shot_type": "intelligence"},
        ("multi_shot", "kling-v3"),
    ),
    "multi shot sum": (
        T2V,
        {
            "model_name": "kling-v3",
            "duration": "8",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"prompt": "a", "duration": "2"}, {"prompt": "b", "duration": "4"}],
        },
        ("multi_prompt", "equal duration"),
    ),
    "multi shot 7 shots": (
        T2V,
        {
            "model_name": "kling-v3",
            "duration": "7",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"prompt": "a", "duration": "1"}] * 7,
        },
        ("multi_prompt", "at most 6"),
    ),
    "multi shot short shot": (
        T2V,
        {
            "model_name": "kling-v3",
            "duration": "3",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"prompt": "a", "duration": "0.5"}, {"prompt": "b", "duration": "2.5"}],
        },
        ("multi_prompt[0].duration", "at least 1"),
    ),
    "multi shot no type": (
        T2V,
        {"model_name": "kling-v3", "prompt": "p", "multi_shot": True},
        ("shot_type",),
    ),
    "multi prompt without multi shot": (
        T2V,
        {"model_name": "kling-v3", "prompt": "p", "multi_prompt": [{"prompt": "a", "duration": "5"}]},
        ("multi_prompt", "multi_shot"),
    ),
    "i2v no image": (I2V, {"prompt": "p"}, ("image", "image_tail")),
    "i2v data url": (I2V, {"image": "data:image/png;base64," + png(640, 360)}, ("image", "data:")),
    "i2v not base64": (I2V, {"image": "not an image!"}, ("image", "Base64")),
    "i2v small png": (I2V, {"image": png(200, 200)}, ("image", "300 px")),
    "i2v thin png": (I2V, {"image": png(1600, 400)}, ("image", "aspect ratio")),
    "i2v gif": (
        I2V,
        {"image": base64.b64encode(b"GIF89a" + b"\x00" * 20).decode()},
        ("image", "jpg/jpeg/png"),
    ),
    "i2v tail + camera": (
        I2V,
        {"image": IMAGE_URL, "image_tail": IMAGE_URL, "camera_control": {"type": "forward_up"}},
        ("image_tail", "camera_control", "cannot be used together"),
    ),
    "i2v masks + camera": (
        I2V,
        {"image": IMAGE_URL, "static_mask": IMAGE_URL, "camera_control": {"type": "forward_up"}},
        ("static_mask/dynamic_masks", "camera_control"),
    ),
    "i2v tail + masks": (
        I2V,
        {"image": IMAGE_URL, "image_tail": IMAGE_URL, "static_mask": IMAGE_URL},
        ("image_tail", "static_mask/dynamic_masks"),
    ),
    "i2v 7 masks": (
        I2V,
        {
            "image": IMAGE_URL,
            "dynamic_masks": [{"mask": IMAGE_URL, "trajectories": [{"x": 1, "y": 1}] * 2}] * 7,
        },
        ("dynamic_masks", "at most 6"),
    ),
    "i2v one point": (
        I2V,
        {"image": IMAGE_URL, "dynamic_masks": [{"mask": IMAGE_URL, "trajectories": [{"x": 1, "y": 1}]}]},
        ("dynamic_masks[0].trajectories", "2 to 77"),
    ),
    "i2v v2-6 first+last std": (
        I2V,
        {"model_name": "kling-v2-6", "image": IMAGE_URL, "image_tail": IMAGE_URL},
        ("first and last frame", "pro"),
    ),
    "voices without sound": (
        I2V,
        {"model_name": "kling-v3", "image": IMAGE_URL, "voice_list": [{"voice_id": "v"}]},
        ("voice_list", "sound"),
    ),
    "3 voices": (
        I2V,
        {"model_name": "kling-v3", "image": IMAGE_URL, "sound": "on", "voice_list": [{"voice_id": "v"}] * 3},
        ("voice_list", "at most 2"),
    ),
    "4 elements": (
        I2V,
        {"model_name": "kling-v3", "image": IMAGE_URL, "element_list": [{"element_id": 1}] * 4},
        ("element_list", "at most 3"),
    ),
    "elements + voices": (
        I2V,
        {
            "model_name": "kling-v3",
            "image": IMAGE_URL,
            "sound": "on",
            "element_list": [{"element_id": 1}],
            "voice_list": [{"voice_id": "v"}],
        },
        ("element_list and voice_list",),
    ),
    "v2-6 voices std": (
        I2V,
        {"model_name": "kling-v2-6", "image": IMAGE_URL, "sound": "on", "voice_list": [{"voice_id": "v"}]},
        ("sound",),
    ),
}


@pytest.mark.parametrize(
    ("path", "body", "words"), REFUSED_VIDEO_BODIES.values(), ids=REFUSED_VIDEO_BODIES.keys()
)
def test_video_rule_violations_are_1201_naming_the_field(
    emulator: EmulatorServer, path: str, body: dict[str, Any], words: tuple[str, ...]
) -> None:
    refused(post(emulator, path, body), *words)
    assert not emulator.emulator.store.tasks


# ---------------------------- text-to-audio (docs/kling-api.md#text-to-audio)


@pytest.mark.parametrize("duration", [3, 3.0, 6.5, 10, 10.0])
def test_text_to_audio_takes_3_to_10_seconds_with_one_decimal(
    emulator: EmulatorServer, duration: float
) -> None:
    assert post(emulator, T2A, {"prompt": "Rain", "duration": duration}).json()["code"] == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"duration": 5}, ("prompt", "required")),
        ({"prompt": "x" * 201, "duration": 5}, ("prompt", "200")),
        ({"prompt": "Rain"}, ("duration", "required")),
        ({"prompt": "Rain", "duration": 6.55}, ("duration", "one decimal")),
        ({"prompt": "Rain", "duration": 10.1}, ("duration", "3.0 to 10.0")),
        ({"prompt": "Rain", "duration": "5"}, ("duration", "number")),
    ],
)
def test_text_to_audio_rules(emulator: EmulatorServer, body: dict[str, Any], words: tuple[str, ...]) -> None:
    refused(post(emulator, T2A, body), *words)


def test_text_to_audio_fixture_gives_audios_only_of_that_length(emulator: EmulatorServer) -> None:
    task = post(emulator, T2A, load_fixture("t2a-submit-request.json")).json()["data"]
    done = finished(emulator, T2A, task["task_id"])
    assert set(done["task_result"]) == {"audios"}
    [audio] = done["task_result"]["audios"]
    assert audio["duration_mp3"] == audio["duration_wav"] == "6.5"
    wav = requests.get(audio["url_wav"], timeout=30).content
    frames = (len(wav) - 44) // 2  # 16-bit mono after the 44-byte header
    assert frames / 22050 == pytest.approx(6.5, abs=0.01)
    one = get(emulator, f"{T2A}/{load_fixture('t2a-submit-request.json')['external_task_id']}").json()
    assert one["data"]["task_id"] == task["task_id"]
    listed = get(emulator, f"{T2A}?pageNum=1&pageSize=10").json()["data"]
    assert [t["task_id"] for t in listed] == [task["task_id"]]


# ---------------------------- result fields (docs/kling-api.md#task-object)


def test_watermark_url_only_when_watermark_enabled(emulator: EmulatorServer) -> None:
    marked = post(emulator, T2V, {"prompt": "p", "watermark_info": {"enabled": True}}).json()["data"]
    plain = post(emulator, T2V, {"prompt": "p", "watermark_info": {"enabled": False}}).json()["data"]
    done = finished(emulator, T2V, marked["task_id"])
    [video] = done["task_result"]["videos"]
    assert done["watermark_info"] == {"enabled": True}
    assert set(done["task_result"]) == {"videos"}
    assert video["watermark_url"] != video["url"]
    response = requests.get(video["watermark_url"], timeout=60)
    assert response.status_code == 200 and response.headers["Content-Type"] == "video/mp4"
    [plain_video] = finished(emulator, T2V, plain["task_id"])["task_result"]["videos"]
    assert "watermark_url" not in plain_video


def test_video_to_audio_names_its_parent_video(emulator: EmulatorServer) -> None:
    video = post(emulator, T2V, {"prompt": "p", "duration": "5"}).json()["data"]
    [made] = finished(emulator, T2V, video["task_id"])["task_result"]["videos"]
    audio = post(emulator, V2A, {"video_id": made["id"]}).json()["data"]
    assert audio["task_info"]["parent_video"] == {"id": made["id"], "url": made["url"], "duration": "5.0"}
    sample = post(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID}).json()["data"]
    parent = sample["task_info"]["parent_video"]
    assert (parent["id"], parent["duration"]) == (SAMPLE_VIDEO_ID, "5.1")
    assert requests.get(parent["url"], timeout=60).status_code == 200
    by_url = post(emulator, V2A, {"video_url": made["url"]}).json()["data"]
    assert by_url["task_info"]["parent_video"]["url"] == made["url"]
    assert by_url["task_info"]["parent_video"]["duration"] == "5.0"


def test_a_finished_video_to_audio_task_has_the_fixture_shape(emulator: EmulatorServer) -> None:
    task = post(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID, "external_task_id": "shape"}).json()["data"]
    done = finished(emulator, V2A, task["task_id"])
    expected = load_fixture("v2a-query-succeed.json")["data"]
    assert set(expected["task_info"]) <= set(done["task_info"])
    assert set(expected["task_result"]) == set(done["task_result"])
    for kind in ("videos", "audios"):
        assert set(expected["task_result"][kind][0]) == set(done["task_result"][kind][0])


# ---------------------------- concurrency (docs/kling-api.md#concurrency)


def test_a_slot_is_held_from_submit_until_the_task_fails_and_freed_at_once(emulator: EmulatorServer) -> None:
    emulator.config.max_concurrent_tasks = 1
    first = post(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID, "bgm_prompt": "[fail]"}).json()["data"]
    assert first["task_status"] == "submitted"
    refused(post(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID}), "arallel task", code=1303)
    seen = {"submitted"}
    for _ in range(200):
        status = get(emulator, f"{V2A}/{first['task_id']}").json()["data"]["task_status"]
        if status == "failed":
            break
        if status == "processing" and status not in seen:
            seen.add(status)
            refused(post(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID}), code=1303)
        time.sleep(0.02)
    assert status == "failed" and "processing" in seen
    # The failed task no longer holds the slot: the very next submit is admitted.
    assert post(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID}).json()["code"] == 0
    assert len(emulator.emulator.store.tasks) == 2
