"""Video generation operators: text-to-video and image-to-video."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_kling.operators.base import KlingSubmitTaskOperator

# Request fields both video endpoints take (docs/kling-api.md#video-requests), in the order of the docs.
_VIDEO_FIELDS = (
    "prompt",
    "negative_prompt",
    "model_name",
    "mode",
    "duration",
    "cfg_scale",
    "sound",
    "camera_control",
    "multi_shot",
    "shot_type",
    "multi_prompt",
    "element_list",
    "voice_list",
    "watermark_info",
    "extra_body",
)
_IMAGE_FIELDS = ("image", "image_tail", "static_mask", "dynamic_masks")


class _KlingVideoOperator(KlingSubmitTaskOperator):
    """The arguments text2video and image2video share; see the two operators below."""

    def __init__(
        self,
        *,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        model_name: str | None = None,
        mode: str | None = None,
        duration: str | int | None = None,
        cfg_scale: float | str | None = None,
        sound: str | None = None,
        camera_control: dict[str, Any] | str | None = None,
        multi_shot: bool | str | None = None,
        shot_type: str | None = None,
        multi_prompt: list[dict[str, Any]] | str | None = None,
        element_list: list[dict[str, Any]] | str | None = None,
        voice_list: list[dict[str, Any]] | str | None = None,
        watermark_info: dict[str, Any] | str | None = None,
        extra_body: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.model_name = model_name
        self.mode = mode
        self.duration = duration
        self.cfg_scale = cfg_scale
        self.sound = sound
        self.camera_control = camera_control
        self.multi_shot = multi_shot
        self.shot_type = shot_type
        self.multi_prompt = multi_prompt
        self.element_list = element_list
        self.voice_list = voice_list
        self.watermark_info = watermark_info
        self.extra_body = extra_body


_SHARED_PARAMS = """
    :param prompt: What the video shows, <= 2500 characters (templated). Required for
        text2video unless ``multi_shot=True`` with ``shot_type="customize"``.
    :param negative_prompt: What it must not show, <= 2500 characters (templated).
    :param model_name: Kling model, e.g. ``kling-v3`` or ``kling-v2-6`` (templated; Kling's
        default is ``kling-v1``). A name this provider does not know is sent with the generic
        rules only: Kling decides.
    :param mode: ``std`` (720p), ``pro`` (1080p) or ``4k`` (kling-v3 only) (templated).
    :param duration: Seconds as text, ``"3"``..``"15"``; kling-v2-6 takes ``"5"``/``"10"`` (templated).
    :param cfg_scale: Prompt adherence 0..1; not for kling-v2.x models (templated).
    :param sound: ``on`` or ``off``; kling-v2-6 and newer, kling-v2-6 in mode ``pro`` only (templated).
    :param camera_control: ``{"type": "simple", "config": {"zoom": 5}}`` (one non-zero axis of
        horizontal/vertical/pan/tilt/roll/zoom in [-10, 10]) or a preset ``type``
        (``down_back``, ``forward_up``, ``right_turn_forward``, ``left_turn_forward``) without config.
    :param multi_shot: Several shots in one video (templated).
    :param shot_type: ``customize`` (your ``multi_prompt``) or ``intelligence`` (Kling splits the prompt).
    :param multi_prompt: Up to 6 ``{"index", "prompt", "duration"}`` shots (<= 512 characters,
        >= 1 s each) whose durations add up to ``duration``.
    :param element_list: Up to 3 ``{"element_id"}``; not with ``voice_list``.
    :param voice_list: Up to 2 ``{"voice_id"}``; needs ``sound="on"``.
    :param watermark_info: ``{"enabled": true}`` adds ``watermark_url`` to each result video.
    :param extra_body: JSON object of parameters newer than this provider, sent as given
        (templated). It cannot set a field this operator has an argument for.

    ``external_task_id``, ``callback_url``, ``kling_conn_id``, ``wait_for_completion``,
    ``deferrable``, ``poll_interval`` and ``timeout`` work as in ``VideoToAudioOperator``.
    Every rule is checked before anything is sent; a broken one fails the task naming the field.
"""


class TextToVideoOperator(_KlingVideoOperator):
    __doc__ = (
        """
    Submit ``POST /v1/videos/text2video`` and wait for the video.

    Returns (and pushes to XCom) the task dict with ``videos: [{"id", "url", "duration"}]``
    (plus ``watermark_url`` when watermarked); feed ``videos[0].id`` to
    ``VideoToAudioOperator(video_id=...)``.

    :param aspect_ratio: ``16:9``, ``9:16`` or ``1:1`` (templated)."""
        + _SHARED_PARAMS
    )

    task_kind = "text2video"
    request_fields: ClassVar[tuple[str, ...]] = (*_VIDEO_FIELDS, "aspect_ratio")
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(self, *, aspect_ratio: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aspect_ratio = aspect_ratio


class ImageToVideoOperator(_KlingVideoOperator):
    __doc__ = (
        """
    Submit ``POST /v1/videos/image2video`` and wait for the video.

    Give ``image`` (first frame), ``image_tail`` (last frame) or both; each a URL or raw Base64
    (no ``data:`` prefix). ``image_tail``, the motion brush (``static_mask`` /
    ``dynamic_masks``) and ``camera_control`` exclude each other.

    :param image: First-frame image URL or Base64 (templated).
    :param image_tail: Last-frame image URL or Base64 (templated).
    :param static_mask: Motion-brush area that stays still, URL or Base64 (templated).
    :param dynamic_masks: Up to 6 ``{"mask", "trajectories": [{"x", "y"}, ...]}`` (templated)."""
        + _SHARED_PARAMS
    )

    task_kind = "image2video"
    request_fields: ClassVar[tuple[str, ...]] = (*_VIDEO_FIELDS, *_IMAGE_FIELDS)
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        image: str | None = None,
        image_tail: str | None = None,
        static_mask: str | None = None,
        dynamic_masks: list[dict[str, Any]] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.image_tail = image_tail
        self.static_mask = static_mask
        self.dynamic_masks = dynamic_masks
