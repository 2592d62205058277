"""VideoEffectsOperator: animate one or two photos with a Kling video effect scene."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_kling.operators.base import KlingSubmitTaskOperator


class VideoEffectsOperator(KlingSubmitTaskOperator):
    """
    Submit ``POST /v1/videos/effects`` and wait for the video.

    Give ``effect_scene`` and either ``image`` (a single-image scene) or ``images`` (a dual-image
    scene: exactly two, the first placed left, the second right). The scene name is passed as
    given: Kling adds and retires scenes (e.g. ``hug`` was discontinued for ``hug_pro``), so the
    provider keeps no list and Kling refuses a retired one (the task fails without retries).

    Returns (and pushes to XCom) the task dict with ``videos: [{"id", "url", "duration"}]``
    (plus ``watermark_url`` when watermarked); feed ``videos[0].id`` to
    ``VideoToAudioOperator(video_id=...)`` or publish it with ``KlingPublishOperator``.

    :param effect_scene: Scene name, snake_case, e.g. ``hug_pro`` (templated; required).
    :param image: Photo for a single-image scene: http(s) URL or raw Base64 jpg/png (<= 10 MB,
        sides >= 300 px, ratio 1:2.5..2.5:1; a Base64 one is checked here) (templated).
    :param images: Two photos for a dual-image scene, as a list (or its rendered JSON) (templated).
    :param duration: ``"5"`` or ``"10"`` seconds, sent as ``input.duration`` only when given
        (older versions of the page require it; the current one does not list it) (templated).
    :param extra_body: JSON object of parameters newer than this provider, sent as given; its
        ``input`` object is merged into the request's ``input`` (templated).

    ``external_task_id``, ``callback_url``, ``kling_conn_id``, ``wait_for_completion``,
    ``deferrable``, ``poll_interval``, ``timeout``, ``min_remaining_units`` and
    ``on_budget_check_error`` work as in ``VideoToAudioOperator``. Every rule is checked before
    anything is sent; a broken one fails the task naming the field.
    """

    task_kind = "effects"
    request_fields: ClassVar[tuple[str, ...]] = ("effect_scene", "image", "images", "duration", "extra_body")
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        effect_scene: str | None = None,
        image: str | None = None,
        images: list[str] | str | None = None,
        duration: str | int | None = None,
        extra_body: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.effect_scene = effect_scene
        self.image = image
        self.images = images
        self.duration = duration
        self.extra_body = extra_body
