"""ImageGenerationOperator and OmniImageOperator over real HTTP against the emulator.

Every rule of docs/kling-api.md#image-generation and #omni-image fails before anything is sent; the result's
``images[]`` are real PNGs of the asked aspect ratio whose URL feeds ImageToVideoOperator; an
image task holds ``n`` parallel-task slots, so behind a full account it waits for ``n``.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from typing import Any

import pytest
import requests
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.operators.image import ImageGenerationOperator, OmniImageOperator
from airflow_provider_kling.operators.video import ImageToVideoOperator
from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import first_event
from tests.operators.test_operator import RecordingTI, run_deferred
from tests.publishing.test_publish_images import png_bytes

IMG = "https://cdn.example/face.png"


def run(op: Any, ti: RecordingTI | None = None) -> dict[str, Any]:
    return op.execute({"ti": ti or RecordingTI(task_id=op.task_id)})


def gen(**kwargs: Any) -> ImageGenerationOperator:
    kwargs.setdefault("prompt", "a red lighthouse at dusk")
    return ImageGenerationOperator(task_id="gen", poll_interval=0.1, deferrable=False, **kwargs)


def png_size(url: str) -> tuple[int, int]:
    body = requests.get(url, timeout=10).content
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", body[16:24])
    return width, height


def test_two_images_of_the_asked_ratio_in_the_xcom_result(kling_conn: EmulatorServer) -> None:
    ti = RecordingTI(task_id="gen")
    result = run(gen(n=2, aspect_ratio="9:16", resolution="2k", watermark_info={"enabled": True}), ti)
    assert result["status"] == "succeed" and result["api_design"] == "legacy"
    assert ti.xcom["kling_task_id"] == result["task_id"]
    assert [i["index"] for i in result["images"]] == [0, 1]
    for image in result["images"]:
        assert set(image) == {"index", "url", "watermark_url", "group_id"}
        assert image["url"].startswith(kling_conn.url) and image["watermark_url"] != image["url"]
        width, height = png_size(image["url"])
        assert (width, height) == (216, 384)  # 9:16, long side 384 at 2k on the emulator
    assert result["videos"] == [] and result["audios"] == []
    assert result["credits"] == 16.0  # kling-v3: 8 units per image
    sent = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert sent == {
        "prompt": "a red lighthouse at dusk",
        "model_name": "kling-v3",  # always sent: an empty one would call the V1 model
        "n": 2,
        "aspect_ratio": "9:16",
        "resolution": "2k",
        "watermark_info": {"enabled": True},
        "external_task_id": result["external_task_id"],
    }


def test_an_image_url_feeds_image_to_video(kling_conn: EmulatorServer) -> None:
    image = run(gen())["images"][0]["url"]
    video = run(ImageToVideoOperator(task_id="i2v", image=image, poll_interval=0.1, deferrable=False))
    assert video["status"] == "succeed" and video["videos"][0]["url"]
    assert kling_conn.emulator.store.tasks[video["task_id"]].request["image"] == image


def test_a_reference_image_as_base64_with_kling_v2_1_fidelities(kling_conn: EmulatorServer) -> None:
    picture = base64.b64encode(png_bytes(400, 300)).decode()
    result = run(
        gen(
            model_name="kling-v2-1",
            image=picture,
            image_reference="subject",
            image_fidelity="0.7",  # rendered template text
            human_fidelity=0.3,
            element_list='[{"element_id": 42}]',
        )
    )
    assert result["status"] == "succeed" and len(result["images"]) == 1
    sent = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert sent["image"] == picture and sent["image_fidelity"] == 0.7 and sent["human_fidelity"] == 0.3
    assert sent["element_list"] == [{"element_id": 42}] and sent["model_name"] == "kling-v2-1"
    assert result["credits"] == 8.0


def test_deferrable_wait_returns_the_same_result_shape(kling_conn: EmulatorServer) -> None:
    op = ImageGenerationOperator(task_id="gen", prompt="p", n=3, poll_interval=0.1, deferrable=True)
    kling_conn.emulator.config.processing_seconds = 0.3
    event, _ = run_deferred(op, {"ti": RecordingTI(task_id="gen")})
    result = op.execute_complete({"ti": RecordingTI(task_id="gen")}, event)
    assert result["status"] == "succeed" and [i["index"] for i in result["images"]] == [0, 1, 2]


def test_the_task_log_names_the_images_and_the_cost(
    kling_conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(gen(n=2))
    out = capsys.readouterr().out
    [done] = [line for line in out.splitlines() if "succeeded:" in line]
    assert all(image["url"] in done for image in result["images"])
    assert f"Kling task {result['task_id']} cost 16 units" in out


def test_a_retry_reattaches_instead_of_paying_again(kling_conn: EmulatorServer) -> None:
    first = run(gen(n=2))
    again = run(gen(n=2))
    assert again["task_id"] == first["task_id"] and kling_conn.emulator.stats.submits == 1


def test_omni_image_single_and_series(kling_conn: EmulatorServer) -> None:
    single = run(
        OmniImageOperator(
            task_id="omni",
            prompt="the cat of <<<image_1>>> on a sofa",
            image_list=[{"image": "https://cdn.example/cat.png"}],
            n=2,
            poll_interval=0.1,
            deferrable=False,
        )
    )
    assert len(single["images"]) == 2
    assert kling_conn.emulator.store.tasks[single["task_id"]].request["model_name"] == "kling-image-o1"
    series = run(
        OmniImageOperator(
            task_id="series",
            prompt="a storyboard of a heist",
            model_name="kling-v3-omni",
            result_type="series",
            series_amount="3",
            aspect_ratio="16:9",
            poll_interval=0.1,
            deferrable=False,
        )
    )
    # Kling answers a series in series_images[]: the result's images are those.
    assert [i["index"] for i in series["images"]] == [0, 1, 2]
    assert png_size(series["images"][0]["url"])[0] > png_size(series["images"][0]["url"])[1]


TINY = base64.b64encode(png_bytes(200, 200)).decode()
WIDE = base64.b64encode(png_bytes(900, 300)).decode()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": None}, "prompt: is required"),
        ({"prompt": "x" * 2501}, "prompt: String should have at most 2500 characters"),
        ({"n": 10}, "n: Input should be less than or equal to 9"),
        ({"n": 0}, "n: Input should be greater than or equal to 1"),
        ({"aspect_ratio": "5:4"}, "aspect_ratio: Input should be '16:9'"),
        ({"resolution": "4k"}, "resolution: Input should be '1k' or '2k'"),
        ({"image": IMG, "negative_prompt": "blur"}, "negative_prompt: not supported when image is set"),
        ({"image_reference": "face"}, "image_reference: needs an image"),
        ({"image_reference": "pose", "image": IMG}, "image_reference: Input should be 'subject' or 'face'"),
        (
            {"image": IMG, "image_fidelity": 0.5},
            "image_fidelity: kling-v3 does not take it (kling-v2-1 only)",
        ),
        (
            {"model_name": "kling-v2-1", "image": IMG, "image_fidelity": 1.5},
            "image_fidelity: Input should be",
        ),
        ({"model_name": "kling-v2-1", "image_fidelity": 0.5}, "image_fidelity: needs an image"),
        (
            {"model_name": "kling-v2-1", "image": IMG, "image_reference": "face", "human_fidelity": 0.4},
            "human_fidelity: only with image_reference 'subject'",
        ),
        (
            {"image": IMG, "element_list": [{"element_id": i} for i in range(10)]},
            "element_list: elements and reference images together must be <= 10, got 11",
        ),
        (
            {"element_list": [{"element_id": "abc"}]},
            "element_list.0.element_id: Input should be a valid integer",
        ),
        ({"image": TINY}, "image: image is 200x200 px; each side must be >= 300 px"),
        ({"image": WIDE}, "image: image is 900x300 px; its aspect ratio must be within 1:2.5 to 2.5:1"),
        ({"image": "data:image/png;base64,AAAA"}, "image: send raw Base64 or a URL"),
        ({"image": "not base64 !"}, "image: must be an http(s) URL or valid raw Base64"),
        ({"image": "ftp://cdn.example/a.png"}, "image: must be an http:// or https:// URL, or raw Base64"),
        ({"extra_body": {"n": 2}}, "extra_body.n: n is set by the provider"),
    ],
)
def test_image_generation_rules_fail_before_any_request(
    kling_conn: EmulatorServer, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(KlingValidationError) as info:
        run(gen(**kwargs))
    assert message in str(info.value)
    assert str(info.value).startswith("Invalid ImageGenerationRequest: ")
    assert kling_conn.emulator.stats.requests == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": ""}, "prompt: is required"),
        ({"resolution": "4k"}, "resolution: kling-image-o1 takes '1k' / '2k'; 4k is kling-v3-omni only"),
        ({"result_type": "series"}, "result_type: kling-image-o1 makes single images"),
        ({"model_name": "kling-v3-omni", "result_type": "series", "n": 2}, "n: not used for result_type"),
        ({"series_amount": 3}, "series_amount: only with result_type 'series'"),
        (
            {"model_name": "kling-v3-omni", "result_type": "series", "series_amount": 10},
            "series_amount",
        ),
        (
            {"model_name": "kling-v3-omni", "aspect_ratio": "auto"},
            "aspect_ratio: kling-v3-omni text-to-image",
        ),
        ({"model_name": "kling-v3-omni"}, "needs a ratio such as '16:9' (not 'auto', Kling's default)"),
        ({"image_list": [{"image": TINY}]}, "image_list.0.image: image is 200x200 px"),
        ({"image_list": [{"image": IMG}] * 11}, "got 11"),
    ],
)
def test_omni_image_rules_fail_before_any_request(
    kling_conn: EmulatorServer, kwargs: dict[str, Any], message: str
) -> None:
    kwargs.setdefault("prompt", "p")
    with pytest.raises(KlingValidationError) as info:
        run(OmniImageOperator(task_id="omni", **kwargs))
    assert message in str(info.value)
    assert kling_conn.emulator.stats.requests == 0


# ---------------------------------------------------------------------------- capacity: n slots


def refusals(server: EmulatorServer) -> int:
    return int(server.emulator.stats.limit_refusals.get(1303, 0))


def fill(server: EmulatorServer, *, limit: int, n: int, seconds: float) -> str:
    """Set the account's limit and hold ``n`` of its slots with an image task running ``seconds``."""
    config = server.emulator.config
    config.max_concurrent_tasks, config.submitted_seconds, config.processing_seconds = limit, 0.1, seconds
    occupier = gen(n=n, wait_for_completion=False, external_task_id="occupier")
    return str(run(occupier)["task_id"])


def test_an_image_task_refused_by_the_capacity_line_is_submitted_once_n_slots_free(
    kling_conn: EmulatorServer,
) -> None:
    fill(kling_conn, limit=3, n=2, seconds=1.0)  # 1 slot left: an n=2 task does not fit
    started = time.monotonic()
    result = run(gen(n=2, timeout=60))
    assert result["status"] == "succeed" and len(result["images"]) == 2
    assert time.monotonic() - started >= 0.9  # it waited for the occupier to end
    stats = kling_conn.emulator.stats
    assert stats.submits == 2  # the occupier and ours, nothing twice
    assert 1 <= refusals(kling_conn) <= 3
    assert stats.peak_running <= 3  # never over the limit in slots


def test_a_deferred_image_submit_waits_on_the_triggerer_and_carries_n(kling_conn: EmulatorServer) -> None:
    fill(kling_conn, limit=2, n=2, seconds=1.0)
    op = ImageGenerationOperator(
        task_id="gen", prompt="p", n=2, poll_interval=0.1, deferrable=True, timeout=60
    )
    ti = RecordingTI(task_id="gen")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})
    trigger = deferred.value.trigger
    assert isinstance(trigger, KlingSubmitTrigger) and refusals(kling_conn) == 1
    kwargs = trigger.serialize()[1]
    assert kwargs["task_kind"] == "image-generation" and kwargs["payload"]["n"] == 2
    event = first_event(KlingSubmitTrigger(**kwargs))
    result = op.execute_complete({"ti": ti}, event)
    assert result["status"] == "succeed" and len(result["images"]) == 2
    assert kling_conn.emulator.stats.submits == 2


def test_image_submits_on_one_triggerer_share_one_line_counting_slots(kling_conn: EmulatorServer) -> None:
    """Six n=2 image submits on one event loop (as on one triggerer) against a limit of 4 slots."""
    config = kling_conn.emulator.config
    config.max_concurrent_tasks, config.submitted_seconds, config.processing_seconds = 4, 0.1, 0.5
    count = 6

    async def triggerer() -> list[dict[str, Any]]:
        triggers = [
            KlingSubmitTrigger(
                task_kind="image-generation",
                payload={"prompt": "p", "model_name": "kling-v3", "n": 2, "external_task_id": f"img-{i}"},
                poll_interval=0.1,
                deadline=time.time() + 120,
            )
            for i in range(count)
        ]

        async def one(trigger: KlingSubmitTrigger) -> dict[str, Any]:
            async for event in trigger.run():
                return dict(event.payload)
            raise AssertionError("no event")

        return await asyncio.gather(*(one(t) for t in triggers))

    events = asyncio.run(triggerer())
    assert [e["status"] for e in events] == ["success"] * count
    assert [len(e["task"]["images"]) for e in events] == [2] * count
    stats = kling_conn.emulator.stats
    assert stats.submits == count and stats.peak_running == 4
    # Each finished task frees 2 slots, which let exactly one queued n=2 task go: refusals stay few.
    assert refusals(kling_conn) <= count // 2
