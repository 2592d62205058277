"""Video generation operators: text-to-video and image-to-video."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_kling.operators.base import KlingSubmitTaskOperator

_VIDEO_FIELDS = ("prompt", "negative_prompt", "model_name", "mode", "duration", "aspect_ratio", "cfg_scale")


class TextToVideoOperator(KlingSubmitTaskOperator):
    """
    Submit ``POST /v1/videos/text2video`` and wait for the video.

    Returns (and pushes to XCom) the task dict with ``videos: [{"id", "url", "duration"}]``;
    feed ``videos[0].id`` to ``VideoToAudioOperator(video_id=...)``.

    :param prompt: What the video shows (templated).
    :param negative_prompt: What it must not show (templated).
    :param model_name: Kling model, e.g. ``kling-v1-6`` (templated).
    :param mode: ``std`` or ``pro`` (templated).
    :param duration: ``"5"`` or ``"10"`` seconds (templated).
    :param aspect_ratio: ``16:9``, ``9:16`` or ``1:1`` (templated).
    :param cfg_scale: Prompt adherence 0..1 (templated).

    ``external_task_id``, ``callback_url``, ``kling_conn_id``, ``wait_for_completion``,
    ``deferrable``, ``poll_interval`` and ``timeout`` work as in ``VideoToAudioOperator``.
    """

    task_kind = "text2video"
    request_fields: ClassVar[tuple[str, ...]] = _VIDEO_FIELDS
    template_fields: Sequence[str] = (*_VIDEO_FIELDS, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        model_name: str | None = None,
        mode: str | None = None,
        duration: str | int | None = None,
        aspect_ratio: str | None = None,
        cfg_scale: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.model_name = model_name
        self.mode = mode
        self.duration = duration
        self.aspect_ratio = aspect_ratio
        self.cfg_scale = cfg_scale


class ImageToVideoOperator(TextToVideoOperator):
    """
    Submit ``POST /v1/videos/image2video`` and wait for the video.

    :param image: Image URL or Base64 (templated).
    :param image_tail: Optional end-frame image URL or Base64 (templated).

    The remaining parameters are those of ``TextToVideoOperator`` (``prompt`` is optional here).
    """

    task_kind = "image2video"
    request_fields: ClassVar[tuple[str, ...]] = (*_VIDEO_FIELDS, "image", "image_tail")
    template_fields: Sequence[str] = (
        *_VIDEO_FIELDS,
        "image",
        "image_tail",
        "external_task_id",
        "callback_url",
    )

    def __init__(self, *, image: str | None = None, image_tail: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.image_tail = image_tail
