"""Video generation operators: text-to-video, image-to-video (both designs), omni video, motion control."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_kling.api.designs import (
    LEGACY_ONLY_ARGUMENTS,
    NEW_KIND_OF,
    Design,
    design_of,
    is_given,
    misplaced_arguments,
)
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.operators.base import KlingSubmitTaskOperator
from airflow_provider_kling.operators.new_video import MotionControlOperator, OmniVideoOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ImageToVideoOperator", "MotionControlOperator", "OmniVideoOperator", "TextToVideoOperator"]

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
_NEW_SETTINGS = ("resolution", "audio", "extra_settings")
# New-design request field -> operator attribute, both families (docs/kling-api.md#new-design).
_NEW_SHARED = {
    "prompt": "prompt",
    "model_name": "model_name",
    "duration": "duration",
    "resolution": "resolution",
    "audio": "audio",
    "multi_shot": "multi_shot",
    "watermark_info": "watermark_info",
    "extra_settings": "extra_settings",
    "extra_body": "extra_body",
}


class _KlingVideoOperator(KlingSubmitTaskOperator):
    """The arguments text2video and image2video share; see the two operators below.

    The design is chosen per task from the rendered ``model_name`` (``api/designs.py``): the
    legacy kind (``text2video``) or the new one (``text-to-video``); ``self.task_kind`` is set
    to it before anything is validated or sent.
    """

    legacy_kind: ClassVar[str]
    new_fields: ClassVar[dict[str, str]]  # new-design request field -> operator attribute

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
        resolution: str | None = None,
        audio: str | None = None,
        extra_settings: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resolution = resolution
        self.audio = audio
        self.extra_settings = extra_settings
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

    def build_request(self) -> Any:
        """Pick the design from the rendered ``model_name``, refuse arguments it lacks, validate."""
        design = self._route()
        given = {name: getattr(self, name, None) for name in (*self.request_fields, *_NEW_SETTINGS)}
        problems = misplaced_arguments(design, self.model_name, given)
        if design == "new":
            mapped = set(self.new_fields.values())
            problems += [
                f"{name}: the new design's {self.task_kind} has no {name} "
                f"({self.model_name} is a new-design model; the legacy design, kling-v... models, has it)"
                for name, value in given.items()
                if is_given(value) and name not in mapped and name not in LEGACY_ONLY_ARGUMENTS
            ]
        if problems:
            raise KlingValidationError(f"Invalid {type(self).__name__}: " + "; ".join(problems))
        if design == "legacy":
            return super().build_request()
        try:
            return super().build_request()
        except KlingValidationError as error:  # name the operator's arguments, not the body's items
            raise KlingValidationError(self._argument_names(str(error))) from None

    def _argument_names(self, message: str) -> str:
        """``first_frame: ...`` -> ``image (first_frame): ...`` where the argument has another name."""
        renamed = {field: attr for field, attr in self.new_fields.items() if field != attr}
        if not renamed:
            return message
        pattern = re.compile(r"(?<=: |; )(" + "|".join(map(re.escape, renamed)) + r")(?=[.:])")
        return pattern.sub(lambda m: f"{renamed[m.group(1)]} ({m.group(1)})", message)

    def _route(self) -> Design:
        """Set ``task_kind`` from the (rendered) model name; returns the design."""
        design = design_of(self.model_name if isinstance(self.model_name, str) else None)
        self.task_kind = NEW_KIND_OF[self.legacy_kind] if design == "new" else self.legacy_kind
        return design

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        self._route()  # a resumed task is a new instance: its logs name the kind it waited on
        return super().execute_complete(context, event)

    def request_arguments(self) -> dict[str, Any]:
        if self.task_kind == self.legacy_kind:
            return super().request_arguments()
        return {field: getattr(self, attr) for field, attr in self.new_fields.items()}


_SHARED_PARAMS = """
    :param prompt: What the video shows (templated): <= 2500 characters (legacy, kling-2.6,
        kling-2.5-turbo), <= 3072 (kling-3.0, kling-3.0-turbo text-to-video).
    :param model_name: Kling model (templated). Legacy names (``kling-v3``, ``kling-v2-6``, any
        ``kling-v...``; Kling's default, none given, is ``kling-v1``) go to ``/v1/videos/...``;
        new-design names (``kling-3.0-turbo``, ``kling-3.0``, ``kling-2.6``, ``kling-2.5-turbo``, or
        any ``kling-<digit>.<digit>...``) to ``/text-to-video/{model}`` / ``/image-to-video/{model}``.
        The design is chosen from the rendered name; an argument that design does not have fails
        the task before anything is sent. A name this provider does not know gets the generic rules.
    :param duration: Seconds. Legacy: text ``"3"``..``"15"`` (kling-v2-6 ``"5"``/``"10"``); new
        design: an int, 3..15 (kling-2.6 and kling-2.5-turbo: 5 or 10) (templated).
    :param multi_shot: Several shots in one video: kling-v3 (with ``shot_type``) or kling-3.0
        (Kling's default there is on; shots in the prompt as ``shot n, m, words; ...``) (templated).
    :param watermark_info: ``{"enabled": true}`` adds ``watermark_url`` to each result video.
    :param extra_body: JSON object of parameters newer than this provider, sent as given
        (templated). It cannot set a field this operator has an argument for.

    New design only (``kling-3.0-turbo``, ``kling-3.0``, ``kling-2.6``, ``kling-2.5-turbo``):

    :param resolution: ``720p`` (Kling's default), ``1080p`` or ``4k`` (kling-3.0 only); kling-2.6
        makes native audio in 1080p only (templated).
    :param audio: ``native`` or ``off`` (default): kling-2.6 and kling-3.0 only; kling-3.0-turbo
        has no switch (templated).
    :param extra_settings: JSON object merged into ``settings{}``: settings newer than this provider
        (templated). It cannot set resolution, audio, aspect_ratio, duration or multi_shot.

    Legacy design only (``kling-v...`` models):

    :param negative_prompt: What it must not show, <= 2500 characters (templated).
    :param mode: ``std`` (720p), ``pro`` (1080p) or ``4k`` (kling-v3 only) (templated).
    :param cfg_scale: Prompt adherence 0..1; not for kling-v2.x models (templated).
    :param sound: ``on`` or ``off``; kling-v2-6 and newer, kling-v2-6 in mode ``pro`` only (templated).
    :param camera_control: ``{"type": "simple", "config": {"zoom": 5}}`` (one non-zero axis of
        horizontal/vertical/pan/tilt/roll/zoom in [-10, 10]) or a preset ``type``
        (``down_back``, ``forward_up``, ``right_turn_forward``, ``left_turn_forward``) without config.
    :param shot_type: ``customize`` (your ``multi_prompt``) or ``intelligence`` (Kling splits the prompt).
    :param multi_prompt: Up to 6 ``{"index", "prompt", "duration"}`` shots (<= 512 characters,
        >= 1 s each) whose durations add up to ``duration``.

    ``external_task_id``, ``callback_url``, ``kling_conn_id``, ``wait_for_completion``,
    ``deferrable``, ``poll_interval`` and ``timeout`` work as in ``VideoToAudioOperator``.
    Every rule is checked before anything is sent; a broken one fails the task naming the field.
    The XCom result has the same keys for both designs.
"""


class TextToVideoOperator(_KlingVideoOperator):
    __doc__ = (
        """
    Submit a text-to-video task and wait for the video.

    ``POST /v1/videos/text2video`` for a legacy model, ``POST /text-to-video/{model}`` for a
    new-design one (e.g. ``model_name="kling-3.0-turbo"``: the cheapest per second, with native
    sound). Returns (and pushes to XCom) the task dict with ``videos: [{"id", "url", "duration"}]``
    (plus ``watermark_url`` when watermarked); feed ``videos[0].id`` to
    ``VideoToAudioOperator(video_id=...)``.

    :param aspect_ratio: ``16:9``, ``9:16`` or ``1:1`` (both designs) (templated).
    :param element_list: Legacy only: up to 3 ``{"element_id"}``; not with ``voice_list``.
    :param voice_list: Legacy only: up to 2 ``{"voice_id"}``; needs ``sound="on"``."""
        + _SHARED_PARAMS
    )

    task_kind = "text2video"
    legacy_kind: ClassVar[str] = "text2video"
    request_fields: ClassVar[tuple[str, ...]] = (*_VIDEO_FIELDS, "aspect_ratio")
    new_fields: ClassVar[dict[str, str]] = {**_NEW_SHARED, "aspect_ratio": "aspect_ratio"}
    template_fields: Sequence[str] = (*request_fields, *_NEW_SETTINGS, "external_task_id", "callback_url")

    def __init__(self, *, aspect_ratio: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aspect_ratio = aspect_ratio


class ImageToVideoOperator(_KlingVideoOperator):
    __doc__ = (
        """
    Submit an image-to-video task and wait for the video.

    ``POST /v1/videos/image2video`` for a legacy model, ``POST /image-to-video/{model}`` for a
    new-design one. Each image is a URL or raw Base64 (no ``data:`` prefix).

    :param image: First frame, URL or Base64 (templated). Legacy: ``image`` and/or ``image_tail``;
        new design: required (sent as the ``first_frame`` content).
    :param image_tail: Last frame, URL or Base64 (templated); new design: the ``last_frame``
        content, with a first frame only; not on kling-3.0-turbo; kling-2.6 and kling-2.5-turbo
        make first+last videos in 1080p only.
    :param element_list: Legacy: up to 3 ``{"element_id"}``, not with ``voice_list``. New design
        (kling-3.0): up to 3 ``{"element_id", "id"}``; ``@id`` in the prompt refers to one.
    :param voice_list: Legacy: up to 2 ``{"voice_id"}``, needs ``sound="on"``. New design
        (kling-2.6): up to 2 ``{"voice_id", "id"}``, needs ``audio="native"``.
    :param static_mask: Legacy only: motion-brush area that stays still, URL or Base64 (templated).
    :param dynamic_masks: Legacy only: up to 6 ``{"mask", "trajectories": [{"x", "y"}, ...]}``.
        ``image_tail``, the motion brush and ``camera_control`` exclude each other (legacy)."""
        + _SHARED_PARAMS
    )

    task_kind = "image2video"
    legacy_kind: ClassVar[str] = "image2video"
    request_fields: ClassVar[tuple[str, ...]] = (*_VIDEO_FIELDS, *_IMAGE_FIELDS)
    new_fields: ClassVar[dict[str, str]] = {
        **_NEW_SHARED,
        "first_frame": "image",
        "last_frame": "image_tail",
        "elements": "element_list",
        "voices": "voice_list",
    }
    template_fields: Sequence[str] = (*request_fields, *_NEW_SETTINGS, "external_task_id", "callback_url")

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
