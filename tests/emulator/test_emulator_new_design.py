"""The emulator speaks Kling's new API design (KLING_API §8) over real HTTP: creates, /tasks, auth, media."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import av
import pytest
import requests

from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_API_KEY
from tests.conftest import load_fixture
from tests.emulator.test_emulator_contract import png, refused

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
IMAGE = "https://cdn.example/first-frame.png"
VIDEO = "https://cdn.example/motion.mp4"
SECRET = "whsec_" + base64.b64encode(b"new-design-test-secret-0123456789").decode()


def post(
    server: EmulatorServer, path: str, body: Any, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=headers or AUTH, timeout=10)


def tasks(server: EmulatorServer, query: str) -> requests.Response:
    return requests.get(f"{server.url}/tasks?{query}", headers=AUTH, timeout=10)


def create(server: EmulatorServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = post(server, path, body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def finished(server: EmulatorServer, task_id: str) -> dict[str, Any]:
    for _ in range(200):
        [task] = tasks(server, f"task_ids={task_id}").json()["data"]
        if task["status"] in ("succeeded", "failed"):
            return dict(task)
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def media_streams(url: str) -> dict[str, Any]:
    """Stream type -> (duration s, width, height) as PyAV decodes the file behind ``url``."""
    body = requests.get(url, timeout=30).content
    with av.open(io.BytesIO(body)) as container:
        info = {
            s.type: (
                float(s.duration * s.time_base),
                getattr(s.codec_context, "width", None),
                getattr(s.codec_context, "height", None),
            )
            for s in container.streams
        }
        assert sum(1 for _ in container.decode(*container.streams)) > 0
    return info


def t2v(prompt: str = "A kite over the sea", **settings: Any) -> dict[str, Any]:
    return {"prompt": prompt, "settings": settings} if settings else {"prompt": prompt}


def i2v(*items: dict[str, Any], **settings: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": list(items)}
    if settings:
        body["settings"] = settings
    return body


FIRST = {"type": "first_frame", "url": IMAGE}
LAST = {"type": "last_frame", "url": IMAGE}
PROMPT = {"type": "prompt", "text": "The kite climbs"}


# ---------------------------------------------------------------------------- create answers


def test_the_create_answer_has_the_fixture_shape(emulator: EmulatorServer) -> None:
    fixture = load_fixture("new-create-answer.json")
    response = post(
        emulator, "/text-to-video/kling-3.0-turbo", {**t2v(), "options": {"external_task_id": "x1"}}
    )
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == set(fixture) and answer["code"] == 0
    data = answer["data"]
    assert set(data) == set(fixture["data"])
    assert data["status"] == "submitted" and data["external_id"] == "x1"
    assert isinstance(data["create_time"], int) and data["create_time"] > 1_700_000_000_000


def test_a_succeeded_task_has_the_fixture_shape_with_video_output_and_unit_billing(
    emulator: EmulatorServer,
) -> None:
    [fixture, _] = load_fixture("new-tasks-query-succeeded.json")["data"]
    data = create(
        emulator,
        "/text-to-video/kling-3.0-turbo",
        {**t2v(), "options": {"watermark_info": {"enabled": True}}},
    )
    task = finished(emulator, data["id"])
    assert set(task) == set(fixture)
    assert task["status"] == "succeeded" and task["message"] == "" and task["id"] == data["id"]
    [video] = task["outputs"]
    assert set(video) == set(fixture["outputs"][0])
    assert video["type"] == "video" and video["duration"] == "5.0"
    assert video["watermark_url"].endswith("-watermark.mp4")
    # 3.0 Turbo 720p: 0.8 units/s x 5 s = 4 units, as the contract's pricing example.
    assert task["billing"] == [{"charge_type": "unit", "amount": "4", "package_type": "video"}]
    assert task["update_time"] > task["create_time"] == data["create_time"]


def test_before_it_succeeds_a_task_has_no_outputs_and_no_billing(emulator: EmulatorServer) -> None:
    emulator.config.submitted_seconds = 5.0
    data = create(emulator, "/text-to-video/kling-2.6", t2v())
    [task] = tasks(emulator, f"task_ids={data['id']}").json()["data"]
    assert (task["status"], task["outputs"], task["billing"]) == ("submitted", [], [])


def test_a_failed_task_carries_its_message_and_no_billing(emulator: EmulatorServer) -> None:
    data = create(emulator, "/image-to-video/kling-3.0", i2v(FIRST, {"type": "prompt", "text": "[fail]"}))
    task = finished(emulator, data["id"])
    assert task["status"] == "failed" and task["message"] == emulator.config.fail_message
    assert task["outputs"] == [] and task["billing"] == []


REFER = {"type": "refer_image", "url": IMAGE}
MOTION = ({"type": "image", "url": IMAGE}, {"type": "video", "url": VIDEO})


@pytest.mark.parametrize(
    ("path", "body", "seconds"),
    [
        ("/text-to-video/kling-2.5-turbo", t2v(duration=10), 10.0),
        ("/text-to-video/kling-3.0", t2v(duration=3, resolution="4k"), 3.0),
        ("/image-to-video/kling-2.6", i2v(FIRST, LAST, resolution="1080p", duration=10), 10.0),
        ("/image-to-video/kling-3.0-turbo", i2v(FIRST, duration=15), 15.0),
        ("/omni-video/kling-3.0-omni", i2v(PROMPT, REFER, aspect_ratio="9:16", duration=8), 8.0),
        ("/omni-video/kling-o1", i2v(PROMPT, REFER, duration=4), 4.0),
        ("/motion-control/kling-3.0", i2v(*MOTION, character_orientation="image"), 5.0),
        ("/text-to-video/kling-9.9-future", t2v(duration=7), 7.0),
    ],
)
def test_every_family_creates_and_reports_the_duration(
    emulator: EmulatorServer, path: str, body: dict[str, Any], seconds: float
) -> None:
    task = finished(emulator, create(emulator, path, body)["id"])
    assert task["status"] == "succeeded", task
    assert task["outputs"][0]["duration"] == f"{seconds:.1f}"


# ---------------------------------------------------------------------------- body rules

BAD_BODIES = [
    # (path, body, words the 1201 message must contain)
    ("/text-to-video/kling-2.6", {}, ["prompt is required"]),
    ("/text-to-video/kling-2.6", t2v("x" * 2501), ["prompt", "2500"]),
    ("/text-to-video/kling-3.0", t2v("x" * 3073), ["prompt", "3072"]),
    ("/text-to-video/kling-2.6", t2v(duration=7), ["settings.duration", "5 or 10"]),
    ("/text-to-video/kling-3.0", t2v(duration="5"), ["settings.duration", "integer"]),
    ("/text-to-video/kling-3.0", t2v(duration=16), ["settings.duration", "3 to 15"]),
    ("/text-to-video/kling-2.6", t2v(resolution="4k"), ["settings.resolution", "720p, 1080p"]),
    ("/text-to-video/kling-2.6", t2v(audio="native"), ["settings.audio native", "1080p"]),
    ("/text-to-video/kling-2.6", t2v(aspect_ratio="4:3"), ["settings.aspect_ratio"]),
    ("/text-to-video/kling-2.5-turbo", t2v(audio="off"), ["settings.audio", "not a field"]),
    ("/text-to-video/kling-3.0-turbo", t2v(multi_shot=True), ["settings.multi_shot", "not a field"]),
    ("/text-to-video/kling-3.0", t2v(multi_shot="yes"), ["settings.multi_shot", "boolean"]),
    ("/text-to-video/kling-3.0", {**t2v(), "model_name": "kling-3.0"}, ["model_name", "not a field"]),
    ("/text-to-video/kling-3.0", {**t2v(), "options": {"external_task_id": 5}}, ["options.external_task_id"]),
    ("/text-to-video/kling-3.0", {**t2v(), "options": {"callback_url": "ftp://x"}}, ["options.callback_url"]),
    (
        "/text-to-video/kling-3.0",
        {**t2v(), "options": {"watermark_info": {"enabled": 1}}},
        ["watermark_info"],
    ),
    ("/image-to-video/kling-3.0", {"prompt": "x"}, ["prompt", "not a field"]),
    ("/image-to-video/kling-3.0", i2v(PROMPT), ["first_frame", "required"]),
    ("/image-to-video/kling-2.6", i2v(PROMPT, LAST), ["last_frame needs a first_frame"]),
    ("/image-to-video/kling-3.0-turbo", i2v(FIRST, LAST), ["contents[1].type", "first_frame"]),
    (
        "/image-to-video/kling-3.0-turbo",
        i2v(FIRST, {"type": "prompt", "text": "x" * 2501}),
        ["contents[1].text", "2500"],
    ),
    ("/image-to-video/kling-3.0", i2v(FIRST, aspect_ratio="16:9"), ["settings.aspect_ratio", "not a field"]),
    ("/image-to-video/kling-2.5-turbo", i2v(FIRST, LAST), ["first_frame and last_frame", "1080p"]),
    (
        "/image-to-video/kling-2.6",
        i2v(FIRST, {"type": "voice", "voice_id": "v1", "id": "1"}),
        ["voice", "audio"],
    ),
    ("/image-to-video/kling-2.6", i2v(FIRST, FIRST), ["at most one first_frame"]),
    ("/image-to-video/kling-3.0", i2v({"type": "first_frame"}), ["contents[0].url is required"]),
    (
        "/image-to-video/kling-3.0",
        i2v({"type": "first_frame", "url": png(200, 400)}),
        ["contents[0].url", "300 px"],
    ),
    (
        "/image-to-video/kling-3.0",
        i2v({"type": "first_frame", "url": png(300, 800)}),
        ["contents[0].url", "1:2.5"],
    ),
    ("/image-to-video/kling-3.0", i2v({"type": "first_frame", "url": "data:image/png;base64,AA"}), ["data:"]),
    (
        "/image-to-video/kling-3.0",
        i2v(FIRST, {"type": "element", "element_id": "e1"}),
        ["contents[1].id is required"],
    ),
    (
        "/image-to-video/kling-3.0",
        i2v(FIRST, *[{"type": "element", "element_id": "e", "id": str(i)} for i in range(4)]),
        ["at most 3 element"],
    ),
    (
        "/image-to-video/kling-3.0",
        i2v({**FIRST, "id": "a"}, {"type": "element", "element_id": "e", "id": "a"}),
        ["id 'a' is used twice"],
    ),
    ("/image-to-video/kling-3.0", {"contents": []}, ["contents is required"]),
    (
        "/image-to-video/kling-3.0",
        i2v({"type": "video", "url": VIDEO}),
        ["contents[0].type", "must be one of"],
    ),
    ("/omni-video/kling-3.0-omni", i2v(PROMPT), ["settings.aspect_ratio is required"]),
    ("/omni-video/kling-3.0-omni", i2v(REFER, aspect_ratio="1:1"), ["prompt item is required"]),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "base_video", "url": VIDEO}, FIRST),
        ["base_video", "first_frame"],
    ),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "base_video", "url": VIDEO}, multi_shot=True),
        ["multi_shot", "base_video"],
    ),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "base_video", "url": VIDEO}, audio="native"),
        ["audio", "base_video"],
    ),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "feature_video", "url": VIDEO}, audio="original"),
        ["audio must be off", "feature_video"],
    ),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "feature_video", "url": IMAGE.replace("https", "s3")}),
        ["contents[1].url", "http(s) URL"],
    ),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "feature_video", "url": VIDEO}, {"type": "base_video", "url": VIDEO}),
        ["at most one feature_video or base_video"],
    ),
    ("/omni-video/kling-3.0-omni", i2v(PROMPT, *[REFER] * 8, aspect_ratio="1:1"), ["at most 7 refer_image"]),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "feature_video", "url": VIDEO}, *[REFER] * 5, audio="off"),
        ["at most 4 refer_image"],
    ),
    ("/omni-video/kling-o1", i2v(PROMPT, FIRST, duration=7), ["settings.duration", "5 or 10"]),
    ("/omni-video/kling-o1", i2v(PROMPT, REFER, duration=11), ["settings.duration", "3 to 10"]),
    ("/omni-video/kling-o1", i2v(PROMPT, REFER, audio="native"), ["settings.audio", "original, off"]),
    ("/motion-control/kling-3.0", i2v(*MOTION), ["character_orientation is required"]),
    (
        "/motion-control/kling-3.0",
        i2v(*MOTION, character_orientation="image", duration=5),
        ["settings.duration", "not a field"],
    ),
    (
        "/motion-control/kling-3.0",
        i2v(MOTION[1], character_orientation="video"),
        ["an image item is required"],
    ),
    (
        "/motion-control/kling-2.6",
        i2v(*MOTION, {"type": "element", "element_id": "e", "id": "1"}, character_orientation="video"),
        ["contents[2].type"],
    ),
    (
        "/motion-control/kling-3.0",
        i2v(*MOTION, {"type": "element", "element_id": "e", "id": "1"}, character_orientation="image"),
        ["character_orientation must be video"],
    ),
    (
        "/motion-control/kling-3.0",
        i2v(*MOTION, character_orientation="face"),
        ["settings.character_orientation"],
    ),
]


@pytest.mark.parametrize(("path", "body", "words"), BAD_BODIES)
def test_a_body_against_the_rules_is_a_1201_naming_the_field(
    emulator: EmulatorServer, path: str, body: dict[str, Any], words: list[str]
) -> None:
    refused(post(emulator, path, body), *words)
    assert not emulator.emulator.store.tasks and emulator.emulator.stats.submits == 0


GOOD_BODIES = [
    ("/text-to-video/kling-2.6", t2v(audio="native", resolution="1080p", aspect_ratio="9:16", duration=10)),
    ("/text-to-video/kling-3.0", t2v(multi_shot=False, audio="native", resolution="4k", duration=15)),
    (
        "/image-to-video/kling-2.6",
        i2v(FIRST, {"type": "voice", "voice_id": "v1", "id": "1"}, audio="native", resolution="1080p"),
    ),
    ("/image-to-video/kling-2.5-turbo", i2v(FIRST, LAST, resolution="1080p")),
    (
        "/image-to-video/kling-3.0",
        i2v(
            {"type": "first_frame", "url": png(1280, 720)},
            *[{"type": "element", "element_id": "e", "id": str(i)} for i in range(3)],
        ),
    ),
    ("/omni-video/kling-3.0-omni", i2v(PROMPT, FIRST)),  # a first frame: no aspect_ratio needed
    ("/omni-video/kling-3.0-omni", i2v(PROMPT, {"type": "base_video", "url": VIDEO}, audio="original")),
    (
        "/omni-video/kling-3.0-omni",
        i2v(PROMPT, {"type": "feature_video", "url": VIDEO}, *[REFER] * 4, audio="off"),
    ),
    (
        "/motion-control/kling-3.0",
        i2v(
            PROMPT,
            *MOTION,
            {"type": "element", "element_id": "e", "id": "1"},
            character_orientation="video",
            audio="off",
            resolution="1080p",
        ),
    ),
    ("/image-to-video/kling-next", i2v(FIRST, LAST, resolution="4k", aspect_ratio="1:1", duration=12)),
]


@pytest.mark.parametrize(("path", "body"), GOOD_BODIES)
def test_a_body_within_the_rules_is_accepted(
    emulator: EmulatorServer, path: str, body: dict[str, Any]
) -> None:
    response = post(emulator, path, body)
    assert response.status_code == 200 and response.json()["code"] == 0, response.text


def test_an_unknown_family_is_1203_and_a_bad_json_body_1200(emulator: EmulatorServer) -> None:
    refused(post(emulator, "/audio-to-video/kling-3.0", t2v()), "does not exist", code=1203)
    response = requests.post(emulator.url + "/text-to-video/kling-3.0", data=b"{", headers=AUTH, timeout=10)
    refused(response, "not valid JSON", code=1200)


def test_an_external_task_id_is_unique_per_account_across_both_designs(emulator: EmulatorServer) -> None:
    body = {**t2v(), "options": {"external_task_id": "once"}}
    create(emulator, "/text-to-video/kling-3.0", body)
    refused(
        post(emulator, "/image-to-video/kling-3.0", {**i2v(FIRST), "options": {"external_task_id": "once"}}),
        "once",
        "already exists",
    )
    refused(
        post(emulator, "/v1/videos/text2video", {"prompt": "x", "external_task_id": "once"}), "already exists"
    )
    assert len(emulator.emulator.store.tasks) == 1
