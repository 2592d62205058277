"""The emulator's image generation, omni-image and video effects (KLING_API §6, §12, §13), over HTTP."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import requests

from kling_emulator.server import EmulatorServer
from kling_emulator.state import SAMPLE_VIDEO_ID
from tests.conftest import load_fixture
from tests.emulator.test_emulator_contract import finished, get, png, post, refused
from tests.emulator.test_emulator_media import media_info

IMAGES, OMNI, EFFECTS = "/v1/images/generations", "/v1/images/omni-image", "/v1/videos/effects"
V2A = "/v1/audio/video-to-audio"
IMAGE_URL = "https://cdn.example/product.png"


def png_size(url: str) -> tuple[int, int]:
    data = requests.get(url, timeout=10).content
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), data[:8]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def submitted(emulator: EmulatorServer, path: str, body: dict[str, Any]) -> str:
    response = post(emulator, path, body)
    assert response.json()["code"] == 0, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


# ------------------------------------------------------- generations (§12.1)


def test_image_task_gives_n_pngs_in_the_fixture_shape(emulator: EmulatorServer) -> None:
    body = {"prompt": "A red bike", "n": 2, "watermark_info": {"enabled": True}, "external_task_id": "img-1"}
    submitted(emulator, IMAGES, body)
    done = finished(emulator, IMAGES, "img-1")
    expected = load_fixture("image-generation-query-succeed.json")["data"]
    assert set(done) == set(expected)
    images = done["task_result"]["images"]
    assert [set(i) for i in images] == [set(i) for i in expected["task_result"]["images"]]
    assert [i["index"] for i in images] == [0, 1]
    assert png_size(images[1]["url"]) == png_size(images[1]["watermark_url"]) == (256, 144)
    assert (
        requests.get(images[0]["url"], timeout=10).content
        != requests.get(images[1]["url"], timeout=10).content
    )
    assert [t["task_id"] for t in get(emulator, IMAGES).json()["data"]] == [done["task_id"]]


@pytest.mark.parametrize(
    ("ratio", "resolution", "size"),
    [
        (None, None, (256, 144)),
        ("9:16", "1k", (144, 256)),
        ("1:1", "2k", (384, 384)),
        ("21:9", "2k", (384, 165)),
        ("4:3", "1k", (256, 192)),
        ("2:3", "1k", (171, 256)),
    ],
)
def test_images_have_the_asked_aspect_ratio_and_resolution(
    emulator: EmulatorServer, ratio: str | None, resolution: str | None, size: tuple[int, int]
) -> None:
    body = {"prompt": "A lamp", "aspect_ratio": ratio, "resolution": resolution}
    task_id = submitted(emulator, IMAGES, {k: v for k, v in body.items() if v is not None})
    [image] = finished(emulator, IMAGES, task_id)["task_result"]["images"]
    assert png_size(image["url"]) == size


@pytest.mark.parametrize(
    ("body", "units"),
    [
        ({"n": 2}, "16"),  # kling-v3 (the default): 8 units an image
        ({"model_name": "kling-v2-1", "n": 2}, "8"),  # 2.1 text to image: 4
        ({"model_name": "kling-v2-1", "n": 2, "image": IMAGE_URL}, "16"),  # 2.1 image to image: 8
    ],
)
def test_image_tasks_cost_per_image(emulator: EmulatorServer, body: dict[str, Any], units: str) -> None:
    task_id = submitted(emulator, IMAGES, {"prompt": "A cup", **body})
    assert finished(emulator, IMAGES, task_id)["final_unit_deduction"] == units


@pytest.mark.parametrize(
    ("change", "words", "code"),
    [
        ({"prompt": None}, ["prompt", "required"], 1201),
        ({"prompt": "p" * 2501}, ["prompt", "2500"], 1201),
        ({"model_name": "kling-v9"}, ["kling-v9", "does not exist"], 1203),
        ({"n": 0}, ["n", "1 to 9"], 1201),
        ({"n": 10}, ["n", "1 to 9"], 1201),
        ({"n": "2"}, ["n", "whole number"], 1201),
        ({"n": True}, ["n"], 1201),
        ({"aspect_ratio": "5:4"}, ["aspect_ratio"], 1201),
        ({"resolution": "4k"}, ["resolution", "1k, 2k"], 1201),
        ({"image": IMAGE_URL, "negative_prompt": "blur"}, ["negative_prompt", "image"], 1201),
        ({"image_reference": "subject"}, ["image_reference needs image"], 1201),
        ({"image": IMAGE_URL, "image_reference": "body"}, ["image_reference"], 1201),
        ({"image_fidelity": 0.5}, ["image_fidelity", "kling-v2-1"], 1201),
        ({"model_name": "kling-v2-1", "image_fidelity": 1.5}, ["image_fidelity", "0.0 to 1.0"], 1201),
        (
            {
                "model_name": "kling-v2-1",
                "image": IMAGE_URL,
                "image_reference": "face",
                "human_fidelity": 0.4,
            },
            ["human_fidelity", "subject"],
            1201,
        ),
        ({"image": png(250, 400)}, ["image", "300 px"], 1201),
        ({"element_list": [{"element_id": i} for i in range(11)]}, ["element_list", "at most 10"], 1201),
        ({"image": IMAGE_URL, "element_list": [{"element_id": i} for i in range(10)]}, ["at most 10"], 1201),
        ({"element_list": [{"element_id": "x"}]}, ["element_list[0]"], 1201),
        ({"watermark_info": {"enabled": True, "text": "x"}}, ["watermark_info"], 1201),
    ],
)
def test_image_generation_refuses_what_the_contract_forbids(
    emulator: EmulatorServer, change: dict[str, Any], words: list[str], code: int
) -> None:
    body = {"prompt": "A tree", **change}
    refused(post(emulator, IMAGES, {k: v for k, v in body.items() if v is not None}), *words, code=code)


def test_an_image_task_holds_n_parallel_slots(emulator: EmulatorServer) -> None:
    emulator.config.max_concurrent_tasks = 4
    emulator.config.processing_seconds = 1.0
    first = submitted(emulator, IMAGES, {"prompt": "One", "n": 3})
    refused(post(emulator, IMAGES, {"prompt": "Two", "n": 2}), "arallel task", code=1303)  # 3 + 2 > 4
    submitted(emulator, IMAGES, {"prompt": "Three", "n": 1})  # 3 + 1 = 4
    # The video packs have their own slots (KLING_API §6: per pack type): full image packs refuse no video.
    submitted(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID})
    refused(
        post(emulator, OMNI, {"prompt": "Four", "result_type": "series", "model_name": "kling-v3-omni"}),
        code=1303,
    )
    assert finished(emulator, IMAGES, first)["task_status"] == "succeed"
    submitted(emulator, IMAGES, {"prompt": "Five", "n": 3})  # the first task's 3 slots are free again


def test_video_and_image_tasks_hold_slots_of_their_own_pack_type(emulator: EmulatorServer) -> None:
    emulator.config.max_concurrent_tasks = 2
    emulator.config.processing_seconds = 1.0
    submitted(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID})
    submitted(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID})
    refused(post(emulator, V2A, {"video_id": SAMPLE_VIDEO_ID}), "arallel task", code=1303)  # video: 2 of 2
    submitted(emulator, IMAGES, {"prompt": "Two", "n": 2})  # the image packs are still empty
    refused(post(emulator, IMAGES, {"prompt": "One more", "n": 1}), code=1303)  # image: 2 of 2
    assert emulator.emulator.stats.peak_running == 2  # the highest count of one pack type


def test_an_image_task_asking_more_slots_than_the_limit_is_refused(emulator: EmulatorServer) -> None:
    emulator.config.max_concurrent_tasks = 4
    refused(post(emulator, IMAGES, {"prompt": "Nine", "n": 5}), code=1303)
    submitted(emulator, IMAGES, {"prompt": "Four", "n": 4})


def test_an_image_task_with_the_fail_marker_fails_and_frees_its_slots(emulator: EmulatorServer) -> None:
    emulator.config.max_concurrent_tasks = 2
    task_id = submitted(emulator, IMAGES, {"prompt": "Break [fail]", "n": 2})
    done = finished(emulator, IMAGES, task_id)
    assert done["task_status"] == "failed" and done["task_status_msg"] and not done["task_result"]
    submitted(emulator, IMAGES, {"prompt": "Fine", "n": 2})


# -------------------------------------------------------- omni-image (§12.2)


def test_omni_image_single_and_series(emulator: EmulatorServer) -> None:
    single = submitted(
        emulator, OMNI, {"prompt": "A <<<image_1>>> hat", "image_list": [{"image": IMAGE_URL}], "n": 2}
    )
    result = finished(emulator, OMNI, single)["task_result"]
    assert result["result_type"] == "single" and result["series_images"] == []
    assert [png_size(i["url"]) for i in result["images"]] == [(256, 256)] * 2  # auto ratio: square
    body = {"prompt": "A comic", "model_name": "kling-v3-omni", "result_type": "series", "series_amount": 3}
    series = finished(
        emulator, OMNI, submitted(emulator, OMNI, {**body, "resolution": "4k", "aspect_ratio": "3:2"})
    )
    assert series["final_unit_deduction"] == "48"  # 16 units an image at 4k
    assert series["task_result"]["images"] == []
    assert [png_size(i["url"]) for i in series["task_result"]["series_images"]] == [(512, 341)] * 3
    auto = finished(emulator, OMNI, submitted(emulator, OMNI, {**body, "series_amount": "auto"}))
    assert len(auto["task_result"]["series_images"]) == 4


@pytest.mark.parametrize(
    ("change", "words", "code"),
    [
        ({"prompt": None}, ["prompt", "required"], 1201),
        ({"model_name": "kling-v3"}, ["kling-v3", "does not exist"], 1203),
        ({"resolution": "4k"}, ["4k", "kling-v3-omni"], 1201),
        ({"result_type": "series"}, ["series", "kling-v3-omni"], 1201),
        ({"result_type": "album"}, ["result_type"], 1201),
        (
            {"model_name": "kling-v3-omni", "result_type": "series", "series_amount": 10},
            ["series_amount"],
            1201,
        ),
        ({"n": 10}, ["n", "1 to 9"], 1201),
        ({"aspect_ratio": "5:4"}, ["aspect_ratio"], 1201),
        ({"image_list": [{"image": png(100, 100)}]}, ["image_list[0].image", "300 px"], 1201),
        ({"image_list": ["https://x.example/a.png"]}, ["image_list[0]"], 1201),
        (
            {"image_list": [{"image": IMAGE_URL}] * 6, "element_list": [{"element_id": i} for i in range(5)]},
            ["at most 10"],
            1201,
        ),
    ],
)
def test_omni_image_refuses_what_the_contract_forbids(
    emulator: EmulatorServer, change: dict[str, Any], words: list[str], code: int
) -> None:
    body = {"prompt": "A hat", **change}
    refused(post(emulator, OMNI, {k: v for k, v in body.items() if v is not None}), *words, code=code)


# ----------------------------------------------------------- effects (§13)


def test_effects_make_a_video_from_one_or_two_images_under_any_scene_name(emulator: EmulatorServer) -> None:
    one = submitted(emulator, EFFECTS, {"effect_scene": "puff_cheeks", "input": {"image": png(400, 400)}})
    [video] = finished(emulator, EFFECTS, one)["task_result"]["videos"]
    assert media_info(video["url"]) == {"video": pytest.approx(5.0, abs=0.05)}
    body = {"effect_scene": "hug_pro", "input": {"images": [IMAGE_URL, IMAGE_URL], "duration": "10"}}
    two = finished(emulator, EFFECTS, submitted(emulator, EFFECTS, {**body, "external_task_id": "fx-2"}))
    assert two["task_info"]["external_task_id"] == "fx-2" and two["final_unit_deduction"] == "2"
    [video] = two["task_result"]["videos"]
    assert video["duration"] == "10.0"
    # a Kling video like any other: video-to-audio takes its id
    assert post(emulator, V2A, {"video_id": video["id"]}).json()["code"] == 0
    assert len(get(emulator, EFFECTS).json()["data"]) == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"input": {"image": IMAGE_URL}}, ["effect_scene", "required"]),
        ({"effect_scene": "  ", "input": {"image": IMAGE_URL}}, ["effect_scene", "required"]),
        ({"effect_scene": 7, "input": {"image": IMAGE_URL}}, ["effect_scene"]),
        ({"effect_scene": "hug_pro"}, ["input", "required"]),
        ({"effect_scene": "hug_pro", "input": {}}, ["input.image"]),
        ({"effect_scene": "hug_pro", "input": {"images": [IMAGE_URL]}}, ["input.images", "exactly 2"]),
        ({"effect_scene": "hug_pro", "input": {"images": [IMAGE_URL] * 3}}, ["input.images", "exactly 2"]),
        (
            {"effect_scene": "hug_pro", "input": {"image": IMAGE_URL, "images": [IMAGE_URL] * 2}},
            ["cannot be used together"],
        ),
        ({"effect_scene": "hug_pro", "input": {"images": [IMAGE_URL, png(100, 400)]}}, ["input.images[1]"]),
        ({"effect_scene": "x", "input": {"image": IMAGE_URL, "duration": "7"}}, ["input.duration"]),
        ({"effect_scene": "x", "input": {"image": IMAGE_URL}, "callback_url": "nope"}, ["callback_url"]),
    ],
)
def test_effects_refuse_what_the_contract_forbids(
    emulator: EmulatorServer, body: dict[str, Any], words: list[str]
) -> None:
    refused(post(emulator, EFFECTS, body), *words)
