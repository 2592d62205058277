"""Image generation operators: ``/v1/images/generations`` and ``/v1/images/omni-image``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_kling.operators.base import KlingSubmitTaskOperator

_COMMON_PARAMS = """
    :param n: How many images, 1..9 (templated; Kling's default 1). The task holds ``n`` of
        the account's parallel-task slots until it ends: behind a full account it waits for
        ``n`` free slots in the capacity line, as a video waits for one.
    :param element_list: ``[{"element_id": ...}]`` elements; with the reference images <= 10.
    :param watermark_info: ``{"enabled": true}`` adds ``watermark_url`` to each image.
    :param extra_body: JSON object of parameters newer than this provider, sent as given
        (templated). It cannot set a field this operator has an argument for.

    ``external_task_id``, ``callback_url``, ``kling_conn_id``, ``wait_for_completion``,
    ``deferrable``, ``poll_interval``, ``timeout``, ``min_remaining_units`` and
    ``on_budget_check_error`` work as in ``VideoToAudioOperator``. Every rule is checked before
    anything is sent; a broken one fails the task naming the field.

    Returns (and pushes to XCom) the task dict with ``images: [{"index", "url",
    "watermark_url", "group_id"}]``; an image URL feeds ``ImageToVideoOperator`` directly:
    ``image="{{ ti.xcom_pull('gen')['images'][0]['url'] }}"``. Kling deletes the files after
    30 days: publish them with ``KlingPublishOperator``.
"""


class ImageGenerationOperator(KlingSubmitTaskOperator):
    __doc__ = (
        """
    Submit ``POST /v1/images/generations`` and wait for the images.

    Text-to-image from ``prompt``, or guided by a reference ``image`` (``image_reference``
    ``subject`` or ``face``).

    :param prompt: What the image shows, <= 2500 characters (required; templated).
    :param model_name: ``kling-v3`` (default, always sent) or ``kling-v2-1`` (templated). A
        name this provider does not know gets the generic rules only: Kling decides.
    :param negative_prompt: What it must not show, <= 2500 characters; not with ``image``.
    :param image: Reference image, http(s) URL or raw Base64 jpg/png (<= 10 MB, sides >= 300 px,
        ratio 1:2.5..2.5:1; a Base64 one is checked here) (templated).
    :param image_reference: ``subject`` or ``face`` (exactly one face in the image); needs ``image``.
    :param image_fidelity: 0..1, the reference image's weight; kling-v2-1 only, needs ``image``.
    :param human_fidelity: 0..1; kling-v2-1 only, with ``image_reference="subject"``.
    :param resolution: ``1k`` (default) or ``2k`` (templated).
    :param aspect_ratio: ``16:9`` (default), ``9:16``, ``1:1``, ``4:3``, ``3:4``, ``3:2``,
        ``2:3`` or ``21:9`` (templated)."""
        + _COMMON_PARAMS
    )

    task_kind = "image-generation"
    request_fields: ClassVar[tuple[str, ...]] = (
        "prompt",
        "model_name",
        "negative_prompt",
        "image",
        "image_reference",
        "image_fidelity",
        "human_fidelity",
        "element_list",
        "resolution",
        "n",
        "aspect_ratio",
        "watermark_info",
        "extra_body",
    )
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        prompt: str | None = None,
        model_name: str | None = None,
        negative_prompt: str | None = None,
        image: str | None = None,
        image_reference: str | None = None,
        image_fidelity: float | str | None = None,
        human_fidelity: float | str | None = None,
        element_list: list[dict[str, Any]] | str | None = None,
        resolution: str | None = None,
        n: int | str | None = None,
        aspect_ratio: str | None = None,
        watermark_info: dict[str, Any] | str | None = None,
        extra_body: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.model_name = model_name
        self.negative_prompt = negative_prompt
        self.image = image
        self.image_reference = image_reference
        self.image_fidelity = image_fidelity
        self.human_fidelity = human_fidelity
        self.element_list = element_list
        self.resolution = resolution
        self.n = n
        self.aspect_ratio = aspect_ratio
        self.watermark_info = watermark_info
        self.extra_body = extra_body


class OmniImageOperator(KlingSubmitTaskOperator):
    __doc__ = """
    Submit ``POST /v1/images/omni-image`` and wait for the images.

    :param prompt: What the image shows, <= 2500 characters; reference images as
        ``<<<image_1>>>`` (required; templated).
    :param model_name: ``kling-image-o1`` (default, always sent) or ``kling-v3-omni`` (templated).
    :param image_list: ``[{"image": url-or-base64}, ...]``; with the elements <= 10 (templated).
    :param resolution: ``1k``, ``2k`` or ``4k`` (kling-v3-omni only) (templated).
    :param result_type: ``single`` (default) or ``series`` (kling-v3-omni) (templated).
    :param series_amount: 2..9 or ``auto`` (Kling's default 4); only with ``series``. A series
        holds that many slots (``auto``: counted as 2 until Kling says more).
    :param aspect_ratio: ``auto`` or one of the eight ratios of ``ImageGenerationOperator``;
        kling-v3-omni without ``image_list`` needs a ratio (templated).""" + _COMMON_PARAMS.replace(
        "How many images, 1..9", "How many images, 1..9, for ``single``"
    )

    task_kind = "omni-image"
    request_fields: ClassVar[tuple[str, ...]] = (
        "prompt",
        "model_name",
        "image_list",
        "element_list",
        "resolution",
        "result_type",
        "n",
        "series_amount",
        "aspect_ratio",
        "watermark_info",
        "extra_body",
    )
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        prompt: str | None = None,
        model_name: str | None = None,
        image_list: list[dict[str, Any]] | str | None = None,
        element_list: list[dict[str, Any]] | str | None = None,
        resolution: str | None = None,
        result_type: str | None = None,
        n: int | str | None = None,
        series_amount: int | str | None = None,
        aspect_ratio: str | None = None,
        watermark_info: dict[str, Any] | str | None = None,
        extra_body: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.model_name = model_name
        self.image_list = image_list
        self.element_list = element_list
        self.resolution = resolution
        self.result_type = result_type
        self.n = n
        self.series_amount = series_amount
        self.aspect_ratio = aspect_ratio
        self.watermark_info = watermark_info
        self.extra_body = extra_body
