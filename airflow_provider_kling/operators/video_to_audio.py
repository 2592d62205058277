"""VideoToAudioOperator: generate sound effects / background music for a video with Kling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_kling.operators.base import KlingSubmitTaskOperator


class VideoToAudioOperator(KlingSubmitTaskOperator):
    """
    Submit ``POST /v1/audio/video-to-audio`` and wait for the generated audio.

    Give exactly one of ``video_id`` (a Kling-generated video, e.g. the upstream
    ``TextToVideoOperator``'s ``{{ ti.xcom_pull('make_video')['videos'][0]['id'] }}``) or
    ``video_url`` (an MP4/MOV, 3-20 s, <= 100 MB). Arguments are validated before anything is
    sent; a broken rule fails the task with the field name and the rule.

    Returns (and pushes to XCom) ``{"task_id", "external_task_id", "status", "status_message",
    "audios": [{"id", "url_mp3", "url_wav", "duration_mp3", "duration_wav"}], "videos": [...]}``.
    Kling deletes the files after 30 days: publish them with ``KlingPublishOperator``.

    :param video_id: Id of a Kling-generated video (templated).
    :param video_url: http(s) URL of the source video (templated).
    :param sound_effect_prompt: Sound effects to generate, <= 200 characters (templated).
    :param bgm_prompt: Background music to generate, <= 200 characters (templated).
    :param asmr_mode: Enhance detailed sound effects (templated; default False).
    :param external_task_id: Your id for the task, unique in the account (templated). Default:
        derived from DAG id, run id, task id and map index, so an Airflow retry re-attaches to
        the task an earlier try created instead of paying for a new one.
    :param callback_url: URL Kling POSTs the task to on every status change (templated).
    :param kling_conn_id: Connection of type ``kling``.
    :param wait_for_completion: Wait for the audio (default) or return right after submitting.
    :param deferrable: Wait on the triggerer, freeing the worker slot (default from
        ``[operators] default_deferrable``, read when the operator is built).
    :param poll_interval: Seconds between status checks (default ``[kling] poll_interval``, 10).
    :param timeout: Seconds to wait for the task before failing with its task id.
    :param min_remaining_units: Budget floor checked before submitting (default
        ``[kling] min_remaining_units``; see ``KlingSubmitTaskOperator``).
    :param on_budget_check_error: ``"fail"`` (default) or ``"skip"`` when the packs cannot be read.
    """

    task_kind = "video-to-audio"
    request_fields: ClassVar[tuple[str, ...]] = (
        "video_id",
        "video_url",
        "sound_effect_prompt",
        "bgm_prompt",
        "asmr_mode",
    )
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        video_id: str | None = None,
        video_url: str | None = None,
        sound_effect_prompt: str | None = None,
        bgm_prompt: str | None = None,
        asmr_mode: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_id = video_id
        self.video_url = video_url
        self.sound_effect_prompt = sound_effect_prompt
        self.bgm_prompt = bgm_prompt
        self.asmr_mode = asmr_mode
