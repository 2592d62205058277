"""The emulator speaks Kling's new API design (KLING_API §8) over real HTTP: creates, /tasks, auth, media."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import jwt
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling_emulator.errors import HTTP_STATUS_FOR_CODE
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Fault
from tests.conftest import fast_config, load_fixture
from tests.emulator.test_emulator_contract import png, refused
from tests.emulator.test_emulator_persist import emulator as persisted_emulator
from tests.emulator.test_emulator_persist import port_of

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
    info: dict[str, Any] = {}
    container: Any
    with av.open(io.BytesIO(body)) as container:
        stream: Any
        for stream in container.streams:
            context: Any = stream.codec_context
            sizes = (context.width, context.height) if stream.type == "video" else (None, None)
            info[stream.type] = (float(stream.duration * stream.time_base), *sizes)
        assert next(iter(container.decode(*container.streams)), None) is not None  # it decodes
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
    (
        "/text-to-video/kling-3.0",
        {**t2v(), "callback_url": "https://x.example/cb"},
        ["callback_url", "options"],
    ),
    ("/text-to-video/kling-3.0", {**t2v(), "duration": 5}, ["duration", "not a field"]),
    ("/image-to-video/kling-3.0", i2v({**FIRST, "text": "a prompt"}), ["contents[0].text", "not a field"]),
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
    # A path model the emulator does not know: its family's widest documented values, no more.
    ("/text-to-video/kling-next", t2v(duration=16), ["settings.duration", "3 to 15"]),
    ("/image-to-video/kling-next", i2v(FIRST, aspect_ratio="1:1"), ["settings.aspect_ratio", "not a field"]),
    (
        "/motion-control/kling-next",
        i2v(*MOTION, character_orientation="video", resolution="4k"),
        ["resolution"],
    ),
    ("/omni-video/kling-next", i2v(PROMPT, audio="loud"), ["settings.audio", "native, original, off"]),
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
    ("/omni-video/kling-3.0-omni", i2v(REFER, aspect_ratio="1:1")),  # no prompt: the contract asks none
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
    ("/image-to-video/kling-next", i2v(FIRST, LAST, resolution="4k", duration=12)),
    (
        "/text-to-video/kling-2.5-turbo",
        {**t2v(), "model_name": None, "settings": {"audio": None}},
    ),  # null: not given
]


@pytest.mark.parametrize(("path", "body"), GOOD_BODIES)
def test_a_body_within_the_rules_is_accepted(
    emulator: EmulatorServer, path: str, body: dict[str, Any]
) -> None:
    response = post(emulator, path, body)
    assert response.status_code == 200 and response.json()["code"] == 0, response.text


def test_names_the_emulator_does_not_know_pass_as_on_the_legacy_paths(emulator: EmulatorServer) -> None:
    """Forward compatibility: Kling adds fields and the provider forwards newer ones (extra_settings)."""
    body = {
        "contents": [{**FIRST, "weight": 0.5}],
        "settings": {"camera_motion": "dolly", "duration": 5},
        "options": {"priority": "high"},
        "future_field": {"x": 1},
    }
    assert post(emulator, "/image-to-video/kling-2.6", body).json()["code"] == 0


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


# ---------------------------------------------------------------------------- GET /tasks


def test_get_tasks_answers_a_batch_by_ids_or_external_ids_and_leaves_unknown_ids_out(
    emulator: EmulatorServer,
) -> None:
    a = create(emulator, "/text-to-video/kling-2.6", {**t2v(), "options": {"external_task_id": "ext-a"}})
    b = create(
        emulator, "/image-to-video/kling-3.0", {**i2v(FIRST), "options": {"external_task_id": "ext-b"}}
    )
    legacy = post(emulator, "/v1/videos/text2video", {"prompt": "x", "external_task_id": "ext-legacy"})
    legacy_id = legacy.json()["data"]["task_id"]
    answer = tasks(emulator, f"task_ids={b['id']},nope,{a['id']},{legacy_id}").json()
    assert answer["code"] == 0
    assert [t["id"] for t in answer["data"]] == [b["id"], a["id"]]
    by_external = tasks(emulator, "external_task_ids=ext-a,ext-b,ext-legacy,unknown").json()["data"]
    assert [(t["id"], t["external_id"]) for t in by_external] == [(a["id"], "ext-a"), (b["id"], "ext-b")]
    assert tasks(emulator, "task_ids=999").json()["data"] == []


def test_get_tasks_shows_only_the_callers_own_tasks(emulator: EmulatorServer) -> None:
    emulator.config.api_keys = {DEFAULT_API_KEY, "other-key"}
    emulator.config.accounts = {"other-key": "other"}  # keys of one account share its tasks
    mine = create(emulator, "/text-to-video/kling-2.6", {**t2v(), "options": {"external_task_id": "same"}})
    other = {"Authorization": "Bearer other-key"}
    theirs = post(
        emulator, "/text-to-video/kling-2.6", {**t2v(), "options": {"external_task_id": "same"}}, other
    )
    assert theirs.status_code == 200  # external ids are unique per account, not globally
    answer = tasks(emulator, f"task_ids={mine['id']},{theirs.json()['data']['id']}").json()["data"]
    assert [t["id"] for t in answer] == [mine["id"]]


@pytest.mark.parametrize("query", ["", "task_ids=", "task_ids=1&external_task_ids=x", "task_ids=,,"])
def test_get_tasks_needs_exactly_one_of_the_two_id_lists(emulator: EmulatorServer, query: str) -> None:
    refused(tasks(emulator, query), "task_ids", "external_task_ids")


def test_get_tasks_caps_a_batch_at_500_ids(emulator: EmulatorServer) -> None:
    assert tasks(emulator, "task_ids=" + ",".join(str(i) for i in range(500))).json()["code"] == 0
    refused(tasks(emulator, "task_ids=" + ",".join(str(i) for i in range(501))), "task_ids", "at most 500")


# ---------------------------------------------------------------------------- POST /tasks


def list_page(server: EmulatorServer, body: dict[str, Any]) -> dict[str, Any]:
    response = post(server, "/tasks", body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_post_tasks_pages_newest_first_by_cursor(emulator: EmulatorServer) -> None:
    made = [create(emulator, "/text-to-video/kling-3.0", t2v())["id"] for _ in range(5)]
    post(emulator, "/v1/videos/text2video", {"prompt": "legacy tasks are not listed"})
    first = list_page(emulator, {"limit": 2})
    assert set(first) == {"result", "count", "next_cursor", "has_more"}
    assert first["count"] == 5 and first["has_more"] is True
    seen = [t["id"] for t in first["result"]]
    cursor = first["next_cursor"]
    create(emulator, "/text-to-video/kling-3.0", t2v())  # made after the first page: not in this listing
    while cursor:
        page = list_page(emulator, {"cursor": cursor, "limit": 2, "start_time": 0, "end_time": 1})
        seen += [t["id"] for t in page["result"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is bool(cursor)
    assert seen == made[::-1]
    assert {"outputs", "billing", "status"} <= set(first["result"][0])


def test_post_tasks_takes_times_as_integers_or_numeric_strings(emulator: EmulatorServer) -> None:
    task = create(emulator, "/text-to-video/kling-3.0", t2v())
    at = task["create_time"]
    for start, end in ((at, at + 1), (str(at), str(at + 1))):
        assert [t["id"] for t in list_page(emulator, {"start_time": start, "end_time": end})["result"]] == [
            task["id"]
        ]
    assert list_page(emulator, {"start_time": at + 1, "end_time": at + 5})["result"] == []
    assert list_page(emulator, {})["count"] == 1  # defaults: the last 30 days up to now


def test_post_tasks_filters_by_status_and_product_type(emulator: EmulatorServer) -> None:
    done = create(emulator, "/text-to-video/kling-3.0", t2v())
    failed = create(emulator, "/text-to-video/kling-3.0", t2v("[fail]"))
    finished(emulator, done["id"]), finished(emulator, failed["id"])

    def ids(*filters: dict[str, Any]) -> list[str]:
        return [t["id"] for t in list_page(emulator, {"filters": list(filters)})["result"]]

    assert ids({"key": "status", "values": ["succeeded"]}) == [done["id"]]
    assert ids({"key": "status", "values": ["failed", "processing"]}) == [failed["id"]]
    assert ids({"key": "status", "values": ["submitted", "processing"]}) == []
    assert ids({"key": "product_type", "values": ["video"]}) == [failed["id"], done["id"]]
    assert ids({"key": "product_type", "values": ["image", "try_on"]}) == []
    assert ids({"key": "product_type", "values": ["video"]}, {"key": "status", "values": ["failed"]}) == [
        failed["id"]
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"limit": 501}, ["limit", "1 to 500"]),
        ({"limit": 0}, ["limit"]),
        ({"start_time": "yesterday"}, ["start_time", "milliseconds"]),
        ({"end_time": True}, ["end_time"]),
        ({"start_time": 10, "end_time": 5}, ["start_time must be before end_time"]),
        ({"cursor": "not-a-cursor"}, ["cursor is invalid"]),
        ({"filters": [{"key": "model", "values": ["x"]}]}, ["filters[0].key"]),
        ({"filters": [{"key": ["status"], "values": ["failed"]}]}, ["filters[0].key"]),
        (
            {"cursor": base64.urlsafe_b64encode(b'{"s": 1e999, "e": 1, "t": 1, "i": "1"}').decode()},
            ["cursor"],
        ),
        ({"filters": [{"key": "status", "values": ["succeed"]}]}, ["filters[0].values", "succeeded"]),
        ({"filters": {"status": "failed"}}, ["filters must be an array"]),
    ],
)
def test_post_tasks_refuses_bad_parameters_naming_them(
    emulator: EmulatorServer, body: dict[str, Any], words: list[str]
) -> None:
    refused(post(emulator, "/tasks", body), *words)


# ---------------------------------------------------------------------------- auth


def legacy_jwt(now: float | None = None) -> str:
    now = time.time() if now is None else now
    claims = {"iss": DEFAULT_ACCESS_KEY, "exp": int(now) + 1800, "nbf": int(now) - 5}
    return jwt.encode(claims, DEFAULT_SECRET_KEY, algorithm="HS256")


@pytest.mark.parametrize("expired", [False, True], ids=["fresh", "expired"])
def test_a_jwt_is_refused_on_every_new_design_route_with_the_api_key_only_message(
    emulator: EmulatorServer, expired: bool
) -> None:
    token = legacy_jwt(time.time() - 3600 if expired else None)
    headers = {"Authorization": f"Bearer {token}"}
    calls = [
        requests.post(emulator.url + "/text-to-video/kling-3.0", json=t2v(), headers=headers, timeout=10),
        requests.get(emulator.url + "/tasks?task_ids=1", headers=headers, timeout=10),
        requests.post(emulator.url + "/tasks", json={}, headers=headers, timeout=10),
    ]
    for response in calls:
        message = refused(response, "API keys only", code=1002)
        assert token not in message and DEFAULT_SECRET_KEY not in message
    assert not emulator.emulator.store.tasks
    # The same JWT still works on the legacy design.
    legacy = requests.post(
        emulator.url + "/v1/videos/text2video", json={"prompt": "x"}, headers=headers, timeout=10
    )
    assert legacy.json()["code"] == (1004 if expired else 0)


def test_no_or_an_unknown_key_gets_the_usual_auth_errors(emulator: EmulatorServer) -> None:
    refused(post(emulator, "/text-to-video/kling-3.0", t2v(), {"Authorization": ""}), code=1001)
    refused(post(emulator, "/text-to-video/kling-3.0", t2v(), {"Authorization": "Bearer wrong"}), code=1002)


# ---------------------------------------------------------------------------- concurrency and billing


def test_both_designs_share_one_parallel_task_limit(emulator: EmulatorServer) -> None:
    emulator.config.max_concurrent_tasks = 2
    emulator.config.submitted_seconds = 0.6
    assert post(emulator, "/v1/videos/text2video", {"prompt": "legacy"}).json()["code"] == 0
    create(emulator, "/text-to-video/kling-3.0-turbo", t2v())
    refused(post(emulator, "/image-to-video/kling-3.0", i2v(FIRST)), "over resource pack limit", code=1303)
    refused(post(emulator, "/v1/videos/text2video", {"prompt": "legacy"}), code=1303)
    time.sleep(0.6 + emulator.config.processing_seconds + 0.1)  # both ended: their slots are free
    create(emulator, "/image-to-video/kling-3.0", i2v(FIRST))
    assert emulator.emulator.stats.limit_refusals[1303] == 2 and emulator.emulator.stats.peak_running == 2


def remaining_units(server: EmulatorServer) -> float:
    now = int(time.time() * 1000)
    answer = requests.get(
        f"{server.url}/account/costs?start_time={now - 1000}&end_time={now}", headers=AUTH, timeout=10
    ).json()
    return float(answer["data"]["resource_pack_subscribe_infos"][0]["remaining_quantity"])


def test_a_succeeded_task_draws_its_billed_units_from_the_resource_pack(emulator: EmulatorServer) -> None:
    before = remaining_units(emulator)
    task = finished(
        emulator, create(emulator, "/text-to-video/kling-3.0", t2v(duration=10, resolution="1080p"))["id"]
    )
    [charge] = task["billing"]
    assert charge == {"charge_type": "unit", "amount": "16", "package_type": "video"}  # 1.6 units/s at 1080p
    assert remaining_units(emulator) == pytest.approx(before - 16)
    finished(emulator, create(emulator, "/text-to-video/kling-3.0", t2v("[fail]"))["id"])
    assert remaining_units(emulator) == pytest.approx(before - 16)  # a failed task costs nothing


def test_an_empty_resource_pack_refuses_new_design_creates_with_1102(emulator: EmulatorServer) -> None:
    emulator.config.patch(
        {"resource_packs": [{"name": "Trial", "total_quantity": 4, "remaining_quantity": 0}]}
    )
    refused(post(emulator, "/text-to-video/kling-3.0", t2v()), code=1102)


# ---------------------------------------------------------------------------- callbacks


class Receiver(ThreadingHTTPServer):
    """Records each callback's raw body and headers."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/kling-callback"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def callbacks_of(server: EmulatorServer, receiver: Receiver, body: dict[str, Any]) -> list[Any]:
    create(server, "/text-to-video/kling-2.6", body)
    for _ in range(100):
        if len(receiver.calls) >= 2:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # a third, unwanted callback would arrive now
    return receiver.calls


def expected_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """Standard Webhooks, computed here on its own: base64 HMAC-SHA256 of ``id.timestamp.body``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_new_design_callbacks_carry_the_new_task_object_on_every_change_signed(
    emulator: EmulatorServer, receiver: Receiver
) -> None:
    emulator.config.webhook_secret = SECRET  # callback_format stays "legacy": it is for the /v1 paths
    options = {"callback_url": receiver.url, "external_task_id": "cb-new"}
    calls = callbacks_of(emulator, receiver, {**t2v(), "options": options})
    fixture = load_fixture("callback-new.json")
    bodies = [json.loads(raw) for raw, _ in calls]
    assert [b["status"] for b in bodies] == ["processing", "succeeded"]
    assert set(bodies[1]) == set(fixture) and bodies[1]["external_id"] == "cb-new"
    assert bodies[0]["outputs"] == [] and bodies[1]["outputs"][0]["type"] == "video"
    assert bodies[1]["billing"] == [{"charge_type": "unit", "amount": "4", "package_type": "video"}]
    ids = set()
    for raw, headers in calls:
        assert headers["webhook-signature"] == expected_signature(SECRET, headers, raw)
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300
        ids.add(headers["webhook-id"])
    assert len(ids) == 2  # unique per request


def test_without_a_secret_callbacks_are_unsigned(emulator: EmulatorServer, receiver: Receiver) -> None:
    calls = callbacks_of(emulator, receiver, {**t2v("[fail]"), "options": {"callback_url": receiver.url}})
    assert [json.loads(raw)["status"] for raw, _ in calls] == ["processing", "failed"]
    assert not any(h.startswith("webhook-") for _, headers in calls for h in headers)


# ---------------------------------------------------------------------------- media


@pytest.mark.parametrize(
    ("path", "body", "seconds", "size", "sound"),
    [
        ("/text-to-video/kling-3.0-turbo", t2v(), 5.0, (128, 72), True),  # turbo: always with sound
        (
            "/image-to-video/kling-3.0-turbo",
            i2v(FIRST, resolution="1080p", duration=3),
            3.0,
            (192, 108),
            True,
        ),
        (
            "/text-to-video/kling-2.6",
            t2v(audio="native", resolution="1080p", aspect_ratio="9:16"),
            5.0,
            (108, 192),
            True,
        ),
        ("/text-to-video/kling-2.5-turbo", t2v(aspect_ratio="1:1", duration=10), 10.0, (72, 72), False),
        ("/text-to-video/kling-3.0", t2v(resolution="4k", duration=4), 4.0, (384, 216), False),
        ("/motion-control/kling-2.6", i2v(*MOTION, character_orientation="video"), 5.0, (128, 72), True),
    ],
)
def test_the_result_is_an_mp4_of_the_asked_length_size_and_sound(
    emulator: EmulatorServer,
    path: str,
    body: dict[str, Any],
    seconds: float,
    size: tuple[int, int],
    sound: bool,
) -> None:
    """Frames are the real size / 10 (720p 16:9 -> 128x72); native/original audio and 3.0 Turbo: AAC."""
    task = finished(emulator, create(emulator, path, body)["id"])
    streams = media_streams(task["outputs"][0]["url"])
    assert set(streams) == ({"video", "audio"} if sound else {"video"})
    duration, width, height = streams["video"]
    assert duration == pytest.approx(seconds, abs=0.05) and (width, height) == size
    if sound:
        assert streams["audio"][0] == pytest.approx(seconds, abs=0.1)


def test_the_watermarked_copy_is_served_and_nothing_before_success(emulator: EmulatorServer) -> None:
    emulator.config.submitted_seconds = 0.5
    body = {**t2v(), "options": {"watermark_info": {"enabled": True}}}
    data = create(emulator, "/text-to-video/kling-2.5-turbo", body)
    early = f"{emulator.url}/results/{data['id']}/x.mp4"
    assert requests.get(early, timeout=10).status_code == 404
    [video] = finished(emulator, data["id"])["outputs"]
    assert set(media_streams(video["watermark_url"])) == {"video"}
    assert requests.get(video["url"].replace(".mp4", ".mp3"), timeout=10).status_code == 404


def test_a_new_design_video_can_feed_video_to_audio(emulator: EmulatorServer) -> None:
    [video] = finished(emulator, create(emulator, "/text-to-video/kling-3.0", t2v(duration=6))["id"])[
        "outputs"
    ]
    v2a = post(emulator, "/v1/audio/video-to-audio", {"video_id": video["id"]}).json()
    assert v2a["code"] == 0, v2a
    assert v2a["data"]["task_info"]["parent_video"] == {
        "id": video["id"],
        "url": video["url"],
        "duration": "6.0",
    }


# ---------------------------------------------------------------------------- fuzz

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "5", "native", "original", "off", "720p", "1080p", "4k", "16:9", "image", "video"]),
    st.sampled_from(["first_frame", "last_frame", "prompt", "refer_image", "base_video", "feature_video"]),
    st.sampled_from(
        ["element", "voice", IMAGE, VIDEO, "data:x", "%%", "status", "product_type", "succeeded"]
    ),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.sampled_from(
                ["type", "url", "text", "id", "element_id", "voice_id", "enabled", "key", "values"]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
FUZZ_VALID = {
    "/text-to-video/kling-3.0": {"prompt": "p"},
    "/image-to-video/kling-2.6": {"contents": [FIRST]},
    "/omni-video/kling-3.0-omni": {"contents": [PROMPT], "settings": {"aspect_ratio": "1:1"}},
    "/motion-control/kling-3.0": {"contents": list(MOTION), "settings": {"character_orientation": "image"}},
}
PLACES = [
    "prompt",
    "contents",
    "contents+",
    "settings",
    "options",
    *(f"settings.{k}" for k in ("audio", "duration", "resolution", "aspect_ratio", "multi_shot")),
    "settings.character_orientation",
    *(f"options.{k}" for k in ("external_task_id", "callback_url", "watermark_info")),
]
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)


def changed(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    for place, value in changes.items():
        parent, _, name = place.rpartition(".")
        if place == "contents+":
            if isinstance(body.get("contents"), list):
                body["contents"].append(value)
        elif not parent:
            body[name] = value
        elif isinstance(body.setdefault(parent, {}), dict):
            body[parent][name] = value
    return body


def named_answer(response: requests.Response, codes: tuple[int, ...]) -> dict[str, Any]:
    answer: dict[str, Any] = response.json()
    assert answer["code"] in codes, answer
    if answer["code"]:
        assert response.status_code == HTTP_STATUS_FOR_CODE[answer["code"]] and answer["message"]
    return answer


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config()) as server:
        yield server


@pytest.mark.parametrize("path", FUZZ_VALID)
@settings(FUZZ, max_examples=120)
@given(changes=st.dictionaries(st.sampled_from(PLACES), values, max_size=3))
def test_any_create_body_gets_a_task_or_a_named_refusal(
    fuzz_server: EmulatorServer, path: str, changes: dict[str, Any]
) -> None:
    data = json.dumps(changed(FUZZ_VALID[path], changes))  # NaN and Infinity go out as Python writes them
    response = requests.post(fuzz_server.url + path, data=data, headers=AUTH, timeout=10)
    if named_answer(response, (0, 1201))["code"] == 0:
        assert response.json()["data"]["status"] == "submitted"


@settings(FUZZ, max_examples=120)
@given(
    body=st.dictionaries(st.sampled_from(["start_time", "end_time", "cursor", "limit", "filters"]), values)
)
def test_any_list_body_gets_a_page_or_a_named_refusal(
    fuzz_server: EmulatorServer, body: dict[str, Any]
) -> None:
    response = requests.post(fuzz_server.url + "/tasks", data=json.dumps(body), headers=AUTH, timeout=10)
    if named_answer(response, (0, 1201))["code"] == 0:
        assert set(response.json()["data"]) == {"result", "count", "next_cursor", "has_more"}


# ---------------------------------------------------------------------------- restart


def test_new_design_tasks_survive_an_emulator_restart(tmp_path: Path) -> None:
    """An API key's account is stable across processes, so its tasks come back from the state file."""
    state = tmp_path / "state.json"

    def call(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = (
            requests.post(url + path, json=body, headers=AUTH, timeout=10)
            if body is not None
            else requests.get(url + path, headers=AUTH, timeout=10)
        )
        return response.json()

    body = {**t2v(), "options": {"external_task_id": "ext-restart"}}
    with persisted_emulator(state, "--processing-seconds", "30") as url:
        task_id = call(url, "/text-to-video/kling-3.0", body)["data"]["id"]
    with persisted_emulator(state, "--processing-seconds", "30", port=port_of(url)) as url:
        [again] = call(url, "/tasks?external_task_ids=ext-restart")["data"]
        duplicate = call(url, "/text-to-video/kling-3.0", body)
        listed = call(url, "/tasks", {})["data"]
    assert again["id"] == task_id and again["status"] in ("submitted", "processing")
    assert duplicate["code"] == 1201 and "already exists" in duplicate["message"]
    assert [t["id"] for t in listed["result"]] == [task_id]
    assert DEFAULT_API_KEY not in state.read_text()


def test_a_create_answered_with_an_error_after_the_fact_is_found_by_its_external_id(
    emulator: EmulatorServer,
) -> None:
    """Fault injection works on the new paths too: what the at-most-once machinery must cope with."""
    emulator.config.inject(Fault("error", code=5000, method="POST", after=True))
    body = {**t2v(), "options": {"external_task_id": "maybe"}}
    refused(post(emulator, "/text-to-video/kling-3.0", body), code=5000)
    [task] = tasks(emulator, "external_task_ids=maybe").json()["data"]
    assert task["external_id"] == "maybe"
    refused(post(emulator, "/text-to-video/kling-3.0", body), "already exists")
    assert emulator.emulator.stats.by_route["POST /text-to-video/{model}"] == 2
