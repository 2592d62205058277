"""New-design-only video operators: omni video and motion control (import them from operators.video)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_kling.api.designs import DEFAULT_MOTION_MODEL, DEFAULT_OMNI_MODEL
from airflow_provider_kling.operators.base import KlingSubmitTaskOperator

_COMMON_PARAMS = """
    :param watermark_info: ``{"enabled": true}`` adds ``watermark_url`` to each result video.
    :param extra_settings: JSON object merged into ``settings{}``: settings newer than this provider
        (templated). It cannot set a setting this operator has an argument for.
    :param extra_body: JSON object of top-level body fields newer than this provider (templated);
        not ``model_name``, ``prompt``, ``contents``, ``settings`` or ``options``.

    ``external_task_id``, ``callback_url``, ``kling_conn_id``, ``wait_for_completion``,
    ``deferrable``, ``poll_interval`` and ``timeout`` work as in ``VideoToAudioOperator``. The
    connection needs an API key: the new design does not accept an access key + secret key.
    Every rule is checked before anything is sent; a broken one fails the task naming the field.
    Returns (and pushes to XCom) the same task dict as ``TextToVideoOperator``.
"""


class OmniVideoOperator(KlingSubmitTaskOperator):
    __doc__ = (
        """
    Submit ``POST /omni-video/{model}`` (Kling 3.0 Omni, O1) and wait for the video.

    Generate from a prompt with frames, reference images and elements, take the motion or
    style of a ``feature_video``, or edit a ``base_video`` (e.g. a clip published earlier).
    Every image is a URL or raw Base64; videos are URLs (mp4/mov, 3-15.5 s). An item given as
    ``{"url": ..., "id": "x"}`` can be named ``@x`` in the prompt.

    :param prompt: What to make or change, <= 3072 characters (templated).
    :param model_name: ``kling-3.0-omni`` (default) or ``kling-o1`` (templated); other path-style
        names get the generic rules (Kling decides); legacy ``kling-v...`` names are refused.
    :param first_frame: First frame image (templated).
    :param last_frame: Last frame image; needs a first frame (templated).
    :param reference_images: List of images (URLs, Base64 or ``{"url", "id"}``): at most 7, or 4
        with a feature/base video (templated).
    :param feature_video: Reference video URL (or ``{"url", "id"}``); ``audio`` must be off (templated).
    :param base_video: Video URL to edit (or ``{"url", "id"}``); no first/last frame, no
        ``multi_shot``, ``audio`` ``original`` or ``off`` (templated). At most one video per task.
    :param elements: Up to 3 ``{"element_id", "id"}`` (templated).
    :param resolution: ``720p``, ``1080p`` or ``4k`` (kling-3.0-omni) (templated).
    :param audio: ``native``, ``original`` or ``off`` (default); kling-o1: ``original`` / ``off``.
    :param aspect_ratio: ``16:9``, ``9:16`` or ``1:1``; required without a first frame and
        without a video (templated).
    :param duration: Seconds as an int: 3..15 (kling-3.0-omni), 3..10 (kling-o1; a first frame
        alone: 5 or 10) (templated).
    :param multi_shot: Several shots (kling-3.0-omni; Kling's default is on) (templated)."""
        + _COMMON_PARAMS
    )

    task_kind = "omni-video"
    request_fields: ClassVar[tuple[str, ...]] = (
        "prompt",
        "model_name",
        "first_frame",
        "last_frame",
        "reference_images",
        "feature_video",
        "base_video",
        "elements",
        "resolution",
        "audio",
        "aspect_ratio",
        "duration",
        "multi_shot",
        "watermark_info",
        "extra_settings",
        "extra_body",
    )
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")
    ui_color = "#efe8ff"

    def __init__(
        self,
        *,
        prompt: str | None = None,
        model_name: str = DEFAULT_OMNI_MODEL,
        first_frame: str | dict[str, Any] | None = None,
        last_frame: str | dict[str, Any] | None = None,
        reference_images: list[str | dict[str, Any]] | str | None = None,
        feature_video: str | dict[str, Any] | None = None,
        base_video: str | dict[str, Any] | None = None,
        elements: list[dict[str, Any]] | str | None = None,
        resolution: str | None = None,
        audio: str | None = None,
        aspect_ratio: str | None = None,
        duration: int | str | None = None,
        multi_shot: bool | str | None = None,
        watermark_info: dict[str, Any] | str | None = None,
        extra_settings: dict[str, Any] | str | None = None,
        extra_body: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.model_name = model_name
        self.first_frame = first_frame
        self.last_frame = last_frame
        self.reference_images = reference_images
        self.feature_video = feature_video
        self.base_video = base_video
        self.elements = elements
        self.resolution = resolution
        self.audio = audio
        self.aspect_ratio = aspect_ratio
        self.duration = duration
        self.multi_shot = multi_shot
        self.watermark_info = watermark_info
        self.extra_settings = extra_settings
        self.extra_body = extra_body


class MotionControlOperator(KlingSubmitTaskOperator):
    __doc__ = (
        """
    Submit ``POST /motion-control/{model}`` and wait for the video: the character of ``image``
    moves as the person in ``video`` does.

    The output's length follows the usable motion of the video (>= 3 s; billed on the output
    length): there is no ``duration``.

    :param prompt: Optional guidance, <= 2500 characters (templated).
    :param model_name: ``kling-3.0`` (default) or ``kling-2.6`` (templated).
    :param image: Character image, URL or raw Base64 (required, templated).
    :param video: Motion video URL, mp4/mov, >= 3 s, <= 30 s (orientation ``video``) or <= 10 s
        (``image``) (required, templated).
    :param character_orientation: ``image`` or ``video``: whose orientation the character keeps
        (required, templated); with an ``element`` it is ``video``.
    :param element: One ``{"element_id", "id"}`` (kling-3.0 only) (templated).
    :param audio: ``original`` (Kling's default) or ``off`` (templated).
    :param resolution: ``720p`` or ``1080p`` (templated)."""
        + _COMMON_PARAMS
    )

    task_kind = "motion-control"
    request_fields: ClassVar[tuple[str, ...]] = (
        "prompt",
        "model_name",
        "image",
        "video",
        "character_orientation",
        "element",
        "audio",
        "resolution",
        "watermark_info",
        "extra_settings",
        "extra_body",
    )
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")
    ui_color = "#efe8ff"

    def __init__(
        self,
        *,
        image: str | None = None,
        video: str | None = None,
        character_orientation: str | None = None,
        prompt: str | None = None,
        model_name: str = DEFAULT_MOTION_MODEL,
        element: dict[str, Any] | str | None = None,
        audio: str | None = None,
        resolution: str | None = None,
        watermark_info: dict[str, Any] | str | None = None,
        extra_settings: dict[str, Any] | str | None = None,
        extra_body: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.video = video
        self.character_orientation = character_orientation
        self.prompt = prompt
        self.model_name = model_name
        self.element = element
        self.audio = audio
        self.resolution = resolution
        self.watermark_info = watermark_info
        self.extra_settings = extra_settings
        self.extra_body = extra_body
