"""TextToAudioOperator: generate a sound or a music bed from a text prompt with Kling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_kling.operators.base import KlingSubmitTaskOperator


class TextToAudioOperator(KlingSubmitTaskOperator):
    """
    Submit ``POST /v1/audio/text-to-audio`` and wait for the generated audio.

    Returns (and pushes to XCom) ``{"task_id", "external_task_id", "status", "status_message",
    "audios": [{"id", "url_mp3", "url_wav", "duration_mp3", "duration_wav"}], "videos": []}``.
    Publish it with ``KlingPublishOperator(result=...)``, or lay it under a video as a music
    bed with ``KlingPublishOperator(music_bed=...)``.

    :param prompt: The sound to generate, <= 200 characters (required, templated).
    :param duration: Seconds, 3.0-10.0 with at most one decimal (required, templated).
    :param extra_body: JSON object of parameters newer than this provider, sent as given
        (templated). It cannot set ``prompt``, ``duration`` or the other arguments.

    ``external_task_id`` (default: derived from DAG, run, task and map index, so an Airflow
    retry re-attaches instead of paying again), ``callback_url``, ``kling_conn_id``,
    ``wait_for_completion``, ``deferrable``, ``poll_interval`` and ``timeout`` work as in
    ``VideoToAudioOperator``. Arguments are checked before anything is sent.
    """

    task_kind = "text-to-audio"
    request_fields: ClassVar[tuple[str, ...]] = ("prompt", "duration", "extra_body")
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        prompt: str | None = None,
        duration: float | str | None = None,
        extra_body: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.duration = duration
        self.extra_body = extra_body
