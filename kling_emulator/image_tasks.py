"""Image generation, omni-image and video effects tasks (KLING_API §12.1, §12.2, §13).

Images are real PNGs of the asked aspect ratio, small on purpose: the long side is 256 px at
``1k``, 384 px at ``2k`` and 512 px at ``4k``. An image task holds ``n`` parallel-task slots
(KLING_API §6; a series as many as its images). Prices per image: ``kling-v3`` 8 units,
``kling-v2-1`` 4 (text to image) or 8 (with a reference image), omni-image 8 (16 at ``4k``).
An effects video lasts 5 s (or ``input.duration`` "5"/"10" of older bodies) at ``units_per_second``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kling_emulator import media, outputs
from kling_emulator.errors import KlingAPIFailure
from kling_emulator.field_checks import array, choice, given, invalid, number, obj, text
from kling_emulator.tasks_common import (
    Host,
    common_fields,
    create_task,
    image_field,
    read_body,
    video_result,
    watermark,
    whole,
)

RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")
LONG_SIDE = {"1k": 256, "2k": 384, "4k": 512}
GENERATION_MODELS = ("kling-v2-1", "kling-v3")
OMNI_MODELS = ("kling-image-o1", "kling-v3-omni")
MAX_REFERENCES = 10
SERIES_AUTO_IMAGES = 4  # what ``series_amount`` "auto" (and its absence) makes here


def image_size(ratio: str, resolution: str) -> tuple[int, int]:
    """(width, height) in px of an image of ``ratio`` at ``resolution`` (long side per LONG_SIDE)."""
    w, h = (int(part) for part in ratio.split(":"))
    long = LONG_SIDE[resolution]
    return (long, round(long * h / w)) if w >= h else (round(long * w / h), long)


def _images(
    task_id: str, count: int, ratio: str, resolution: str, body: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """``images[]{index, url[, watermark_url]}`` and their files."""
    width, height = image_size(ratio, resolution)
    marked = media.watermarked(body)
    images, files = [], {}
    for index in range(count):
        name = f"image-{index}.png"
        entry: dict[str, Any] = {"index": index, "url": f"{task_id}/{name}"}
        if marked:
            entry["watermark_url"] = media.watermark_name(entry["url"])
        images.append(entry)
        files[name] = outputs.png(width, height, index)
    return images, files


def _model(body: dict[str, Any], allowed: tuple[str, ...], path: str) -> str:
    name = text(body, "model_name") or allowed[-1 if path == "generations" else 0]
    if name not in allowed:
        known = ", ".join(allowed)
        raise KlingAPIFailure(1203, f"model_name {name!r} does not exist for /v1/images/{path} ({known})")
    return name


def _elements(body: dict[str, Any]) -> list[Any]:
    elements = array(body, "element_list", MAX_REFERENCES) or []
    for i, item in enumerate(elements):
        element_id = item.get("element_id") if isinstance(item, dict) else None
        if isinstance(element_id, bool) or not isinstance(element_id, int):
            raise invalid(f'element_list[{i}] must be {{"element_id": <integer>}}')
    return elements


async def generations(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /v1/images/generations`` (KLING_API §12.1)."""
    body = await read_body(host, request)
    external_id = common_fields(body)
    watermark(body)
    model = _model(body, GENERATION_MODELS, "generations")
    text(body, "prompt", 2500, required=True)
    text(body, "negative_prompt", 2500)
    image = image_field(body.get("image"), "image", required=False)
    if image and given(body, "negative_prompt"):
        raise invalid("negative_prompt is not supported when image is set")
    reference = choice(body, "image_reference", ("subject", "face"))
    if reference and not image:
        raise invalid("image_reference needs image")
    for name in ("image_fidelity", "human_fidelity"):
        if given(body, name):
            if model != "kling-v2-1":
                raise invalid(f"{name} is supported by kling-v2-1 only")
            number(body[name], name, 0.0, 1.0)
    if given(body, "human_fidelity") and reference != "subject":
        raise invalid("human_fidelity needs image_reference 'subject'")
    if len(_elements(body)) + (1 if image else 0) > MAX_REFERENCES:
        raise invalid("element_list and the reference image: at most 10 together")
    resolution = choice(body, "resolution", ("1k", "2k"), default="1k") or "1k"
    count = whole(body, "n", 1, 9, 1)
    ratio = choice(body, "aspect_ratio", RATIOS, default="16:9") or "16:9"
    per_image = 4.0 if model == "kling-v2-1" and not image else 8.0
    host._admit(owner, external_id, slots=count, units=per_image * count, pack="image")
    task_id = host.store.new_id()
    images, files = _images(task_id, count, ratio, resolution, body)
    return create_task(
        host,
        request,
        kind,
        owner,
        body,
        task_id=task_id,
        seconds=0.0,
        units=per_image * count,
        result={"images": images},
        files=files,
        slots=count,
    )


async def omni_image(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /v1/images/omni-image`` (KLING_API §12.2): single images or a series."""
    body = await read_body(host, request)
    external_id = common_fields(body)
    watermark(body)
    model = _model(body, OMNI_MODELS, "omni-image")
    text(body, "prompt", 2500, required=True)
    image_list = array(body, "image_list", MAX_REFERENCES) or []
    for i, item in enumerate(image_list):
        if not isinstance(item, dict):
            raise invalid(f'image_list[{i}] must be {{"image": <URL or Base64>}}')
        image_field(item.get("image"), f"image_list[{i}].image")
    if len(image_list) + len(_elements(body)) > MAX_REFERENCES:
        raise invalid("image_list and element_list: at most 10 together")
    resolution = choice(body, "resolution", ("1k", "2k", "4k"), default="1k") or "1k"
    if resolution == "4k" and model != "kling-v3-omni":
        raise invalid("resolution 4k needs kling-v3-omni")
    result_type = choice(body, "result_type", ("single", "series"), default="single")
    if result_type == "series" and model != "kling-v3-omni":
        raise invalid("result_type series needs kling-v3-omni")
    count = whole(body, "n", 1, 9, 1)
    amount = body.get("series_amount")
    if amount not in (None, "", "auto"):
        amount = whole(body, "series_amount", 2, 9, SERIES_AUTO_IMAGES)
    ratio = choice(body, "aspect_ratio", ("auto", *RATIOS), default="auto") or "auto"
    if result_type == "series":
        count = amount if isinstance(amount, int) else SERIES_AUTO_IMAGES
    units = (16.0 if resolution == "4k" else 8.0) * count
    host._admit(owner, external_id, slots=count, units=units, pack="image")
    task_id = host.store.new_id()
    images, files = _images(task_id, count, "1:1" if ratio == "auto" else ratio, resolution, body)
    single = result_type == "single"
    return create_task(
        host,
        request,
        kind,
        owner,
        body,
        task_id=task_id,
        seconds=0.0,
        units=units,
        result={
            "result_type": result_type,
            "images": images if single else [],
            "series_images": [] if single else images,
        },
        files=files,
        slots=count,
    )


def _effect_input(body: dict[str, Any]) -> float:
    """``input.image`` (one) xor ``input.images`` (exactly two); returns the video's seconds."""
    data = obj(body, "input")
    if data is None:
        raise invalid("input is required: {image} or {images: [left, right]}")
    if given(data, "image") and given(data, "images"):
        raise invalid("input.image and input.images cannot be used together")
    if given(data, "images"):
        images = data["images"]
        if not isinstance(images, list) or len(images) != 2:
            raise invalid("input.images must hold exactly 2 images (left, right)")
        for i, image in enumerate(images):
            image_field(image, f"input.images[{i}]")
    else:
        image_field(data.get("image"), "input.image")
    duration = choice(data, "duration", ("5", "10"), default="5", where="input.") or "5"
    return float(duration)


async def effects(host: Host, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /v1/videos/effects`` (KLING_API §13): any scene name is accepted (Kling retires scenes)."""
    body = await read_body(host, request)
    external_id = common_fields(body)
    watermark(body)
    scene = body.get("effect_scene")
    if not isinstance(scene, str) or not scene.strip():
        raise invalid("effect_scene is required: a scene name such as hug_pro")
    text(body, "effect_scene", 200)
    seconds = _effect_input(body)
    units = round(seconds * host.config.units_per_second, 2)
    host._admit(owner, external_id, units=units)
    task_id, video_id = host.store.new_id(), host.store.new_id()
    return create_task(
        host,
        request,
        kind,
        owner,
        body,
        task_id=task_id,
        seconds=seconds,
        units=units,
        result=video_result(task_id, video_id, seconds),
        files={f"{video_id}.mp4": outputs.silent_video(seconds)},
        video_ids=[video_id],
        fail_text=scene,
    )
