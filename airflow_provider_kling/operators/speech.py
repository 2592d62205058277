"""Speech operators: text-to-speech, lip-sync (identify the face, then advanced lip-sync) and avatar."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_kling import DEFAULT_CONN_ID, config
from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.links.kling import KlingResultLink
from airflow_provider_kling.operators.base import BUDGET_CHECK_ERROR_POLICIES, KlingSubmitTaskOperator

# Models and the hook are imported inside the methods: this module is imported on every DAG parse.
if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kling.api.requests import KlingRequest
    from airflow_provider_kling.api.speech import AdvancedLipSyncRequest, FaceSession
    from airflow_provider_kling.api.tasks import KlingTask
    from airflow_provider_kling.execution.idempotency import CapacityRefusal
    from airflow_provider_kling.hooks.kling import KlingHook

_PENDING = "(identified at run time)"


class TextToSpeechOperator(BaseOperator):
    """
    Speak ``text`` with a Kling preset voice (``POST /v1/audio/tts``) and return the audio.

    Kling answers the call with the finished audio (synchronous: nothing to wait for, no worker
    slot held). Returns (and pushes to XCom) the provider's normalised result; ``audios[0]`` is
    ``{"id", "url", "duration", ...}``: the ``id`` is the ``audio_id`` that ``LipSyncOperator``
    and ``AvatarOperator`` take (for 30 days), ``duration`` is in seconds (text).

    TTS takes no ``external_task_id``, so an earlier try's audio cannot be found again: **every
    try calls Kling once and pays again (0.05 units)**. A ``failed`` answer fails the task with
    Kling's message; a ``submitted``/``processing`` answer (not documented for TTS, and there is
    no query path) fails it as retryable.

    :param text: What to say, <= 1000 characters (templated).
    :param voice_id: A Kling voice id, e.g. ``oversea_male1`` (templated; ``KlingHook.list_voices()``
        lists the preset voices).
    :param voice_language: ``zh`` (default) or ``en``; must match the voice (templated).
    :param voice_speed: 0.8-2.0, one decimal (templated; Kling's default 1.0).
    :param kling_conn_id: Connection of type ``kling``.
    :param min_remaining_units: Do not call when the online packs hold fewer units (default
        ``[kling] min_remaining_units``; 0 turns the check off).
    :param on_budget_check_error: ``"fail"`` (default) or ``"skip"`` when the packs cannot be read.
    """

    template_fields: Sequence[str] = ("text", "voice_id", "voice_language", "voice_speed")
    ui_color = "#e8f0ff"
    operator_extra_links = (KlingResultLink(),)

    def __init__(
        self,
        *,
        text: str,
        voice_id: str,
        voice_language: str = "zh",
        voice_speed: float | str | None = None,
        kling_conn_id: str = DEFAULT_CONN_ID,
        min_remaining_units: float | None = None,
        on_budget_check_error: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_budget_check_error not in BUDGET_CHECK_ERROR_POLICIES:
            raise KlingValidationError(
                f"Invalid {type(self).__name__}: on_budget_check_error: must be one of "
                f"{BUDGET_CHECK_ERROR_POLICIES}, got {on_budget_check_error!r}"
            )
        if min_remaining_units is not None:
            config.budget_floor(min_remaining_units, type(self).__name__)
        self.text = text
        self.voice_id = voice_id
        self.voice_language = voice_language
        self.voice_speed = voice_speed
        self.kling_conn_id = kling_conn_id
        self.min_remaining_units = min_remaining_units
        self.on_budget_check_error = on_budget_check_error

    @cached_property
    def hook(self) -> KlingHook:
        from airflow_provider_kling.hooks.kling import KlingHook

        return KlingHook(self.kling_conn_id)

    def build_request(self) -> KlingRequest:
        from airflow_provider_kling.api.speech import TextToSpeechRequest

        return TextToSpeechRequest.build(
            text=self.text,
            voice_id=self.voice_id,
            voice_language=self.voice_language,
            voice_speed=self.voice_speed,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_kling.execution.reporting import describe_cost

        request = self.build_request()  # before any connection lookup or request
        self._check_budget()
        task = self.hook.synthesize_speech(request)
        result = task.to_xcom()
        if self.do_xcom_push:
            context["ti"].xcom_push(key="kling_task_id", value=task.task_id)
        audio = result["audios"][0] if result["audios"] else {}
        self.log.info(
            "Kling tts task %s: %s s of speech at %s", task.task_id, audio.get("duration"), audio.get("url")
        )
        self.log.info("Kling task %s cost %s", task.task_id, describe_cost(result))
        return result

    def _check_budget(self) -> None:
        from airflow_provider_kling.api.account import check_floor

        floor = config.budget_floor(self.min_remaining_units, type(self).__name__)
        if floor is None:
            return
        try:
            packs = self.hook.get_resource_packs()
        except KlingError as exc:
            if self.on_budget_check_error == "fail":
                raise
            self.log.warning("Budget check skipped: the resource packs could not be read (%s)", exc)
            return
        self.log.info("Budget check passed: %.10g units remain", check_floor(packs, floor))


class LipSyncOperator(KlingSubmitTaskOperator):
    """
    Make a person in a video speak an audio: identify the face, then advanced lip-sync.

    Step 1, ``POST /v1/videos/identify-face`` (synchronous, billed 0.05 units): the faces and the
    interval (ms) each is lip-syncable. Step 2, ``POST /v1/videos/advanced-lip-sync`` for one
    face, then wait for the video as the video operators do (at-most-once submit, deferrable or
    blocking, the capacity line, the budget floor checked before step 1).

    Before the paid step 2: the chosen face must exist (the task fails clearly when Kling found
    no face) and the inserted audio must overlap its interval by >= 2 s. An Airflow retry first
    re-attaches to the lip-sync task an earlier try created (derived ``external_task_id``); if
    there is none it re-uses the earlier try's identify-face session while it is valid (24 h),
    kept in Airflow's task state store (Airflow 3.3+; on older Airflow a retry that finds no
    lip-sync task identifies again).

    Times are milliseconds: ``sound_start_time``/``sound_end_time`` crop the audio (>= 2 s,
    <= 60 s), ``sound_insert_time`` is where it starts in the video.

    :param video_id: Id of a Kling video (<= 30 days old), or ...
    :param video_url: ... an http(s) MP4/MOV, 2-60 s, 720p/1080p (templated).
    :param audio_id: A TTS audio id (``TextToSpeechOperator``'s ``audios[0].id``), or ...
    :param sound_file: ... an mp3/wav/m4a/aac URL or raw Base64, <= 5 MB, 2-60 s (templated).
    :param audio_duration: The audio's length in seconds (e.g. the TTS ``audios[0].duration``);
        ``sound_end_time`` defaults to it (templated).
    :param face_id: Which face; default the one on screen longest (templated).
    :param face_session: The answer of an identify-face call made earlier for this same video
        (``KlingHook.identify_face(...).model_dump(mode="json")``, e.g. a branch task's XCom),
        used instead of a new billed identify-face; Kling accepts it for 24 h (templated).
    :param sound_start_time: Crop start on the audio clock, ms (default 0).
    :param sound_end_time: Crop end on the audio clock, ms (default the whole audio).
    :param sound_insert_time: Where the audio starts in the video, ms (default the face's start).
    :param sound_volume: 0-2 (Kling's default 1).
    :param original_audio_volume: 0-2, the video's own sound (Kling's default 1).
    :param watermark_info: ``{"enabled": true}`` for a watermarked copy too.

    The other parameters (``external_task_id``, ``deferrable``, ``timeout``, budget floor, ...)
    are those of ``KlingSubmitTaskOperator``. Returns the normalised result (``videos[0]``).
    """

    task_kind = "advanced-lip-sync"
    request_fields: ClassVar[tuple[str, ...]] = (
        "video_id",
        "video_url",
        "audio_id",
        "sound_file",
        "audio_duration",
        "face_id",
        "sound_start_time",
        "sound_end_time",
        "sound_insert_time",
        "sound_volume",
        "original_audio_volume",
        "watermark_info",
    )
    template_fields: Sequence[str] = (*request_fields, "face_session", "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        video_id: str | None = None,
        video_url: str | None = None,
        face_session: dict[str, Any] | None = None,
        audio_id: str | None = None,
        sound_file: str | None = None,
        audio_duration: float | str | None = None,
        face_id: str | None = None,
        sound_start_time: int | str | None = None,
        sound_end_time: int | str | None = None,
        sound_insert_time: int | str | None = None,
        sound_volume: float | str | None = None,
        original_audio_volume: float | str | None = None,
        watermark_info: dict[str, bool] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_id = video_id
        self.video_url = video_url
        self.audio_id = audio_id
        self.sound_file = sound_file
        self.audio_duration = audio_duration
        self.face_id = face_id
        self.sound_start_time = sound_start_time
        self.sound_end_time = sound_end_time
        self.sound_insert_time = sound_insert_time
        self.sound_volume = sound_volume
        self.original_audio_volume = original_audio_volume
        self.watermark_info = watermark_info
        self.face_session = face_session
        self._context: Context | None = None

    def build_request(self, session: FaceSession | None = None) -> AdvancedLipSyncRequest:
        """Validate every argument; with ``session``, the real request for its chosen face."""
        from airflow_provider_kling.api.speech import (
            AdvancedLipSyncRequest,
            IdentifyFaceRequest,
            check_face_window,
            seconds_to_ms,
        )

        self.check_wait_arguments()
        IdentifyFaceRequest.build(video_id=self.video_id, video_url=self.video_url)
        length = seconds_to_ms(self.audio_duration, "audio_duration")
        if length is not None and not 2000 <= length <= 60_000:
            raise KlingValidationError(
                f"Invalid {type(self).__name__}: audio_duration: lip-sync takes 2-60 s of audio, "
                f"got {self.audio_duration!r} s"
            )
        end = self.sound_end_time
        if end is None or (isinstance(end, str) and not end.strip()):
            if length is None:
                raise KlingValidationError(
                    f"Invalid {type(self).__name__}: sound_end_time: is required unless audio_duration is "
                    "given (ms on the audio clock; Kling cannot tell the audio's length before the paid call)"
                )
            end = length
        session = session or self._given_session()
        face = session.choose(self.face_id) if session is not None else None
        insert = self.sound_insert_time
        if insert is None or (isinstance(insert, str) and not insert.strip()):
            insert = face.start_time if face is not None else 0
        start = self.sound_start_time
        choice = {
            "face_id": face.face_id if face is not None else (self.face_id or "0"),
            "audio_id": self.audio_id,
            "sound_file": self.sound_file,
            "sound_start_time": 0 if start is None or start == "" else start,
            "sound_end_time": end,
            "sound_insert_time": insert,
            "sound_volume": self.sound_volume,
            "original_audio_volume": self.original_audio_volume,
        }
        request = AdvancedLipSyncRequest.build(
            session_id=session.session_id if session is not None else _PENDING,
            face_choose=[choice],
            watermark_info=self.watermark_info,
            external_task_id=self.external_task_id,
            callback_url=self.callback_url,
        )
        assert isinstance(request, AdvancedLipSyncRequest)
        chosen = request.face_choose[0]
        if length is not None and chosen.sound_end_time is not None and chosen.sound_end_time > length:
            raise KlingValidationError(
                f"Invalid {type(self).__name__}: sound_end_time: {chosen.sound_end_time} ms is past the "
                f"audio's end ({length} ms)"
            )
        if face is not None:
            check_face_window(face, chosen)
        return request

    def execute(self, context: Context) -> dict[str, Any]:
        self._context = context  # the identify step (in _submit_or_reattach) keeps its session there
        result = super().execute(context)
        self._forget_session(context)
        return result

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        result = super().execute_complete(context, event)
        self._forget_session(context)
        return result

    async def _submit_or_reattach(
        self, request: KlingRequest, external_id: str
    ) -> KlingTask | CapacityRefusal:
        """Re-attach to an earlier try's lip-sync task; else identify (or re-use a session) and submit."""
        from airflow_provider_kling.exceptions import KlingConcurrencyLimitError, KlingRateLimitError
        from airflow_provider_kling.execution.idempotency import CapacityRefusal, find_reusable

        try:
            existing, candidate = await find_reusable(self.hook, self.task_kind, external_id, self.log)
        except (KlingConcurrencyLimitError, KlingRateLimitError) as exc:
            # The look-up was refused: submitted in line, which walks the "-2", "-3" chain first.
            return CapacityRefusal(await self._lip_sync_payload(external_id), exc, resolved=False)
        if existing is not None:
            return existing
        payload = await self._lip_sync_payload(candidate)
        try:
            return await self.hook.asubmit_task(self.task_kind, payload, retry_concurrency=False)
        except (KlingConcurrencyLimitError, KlingRateLimitError) as exc:
            return CapacityRefusal(payload, exc, resolved=True)

    async def _lip_sync_payload(self, external_id: str) -> dict[str, Any]:
        session = await self._face_session()
        real = self.build_request(session)  # no face, or audio outside its window: fails here, unpaid
        return {**real.to_payload(), "external_task_id": external_id}

    async def _face_session(self) -> FaceSession:
        from airflow_provider_kling.execution.face_sessions import session_for

        given = self._given_session()
        if given is not None:  # identified upstream (e.g. to choose a branch): not paid twice
            self.log.info("Using the identify-face session %s given (no new charge)", given.session_id)
            return given
        store = self._store(self._context)
        return await session_for(self.hook, store, self.video_id or None, self.video_url or None, self.log)

    def _given_session(self) -> FaceSession | None:
        from airflow_provider_kling.execution.face_sessions import given_session

        return given_session(self.face_session, type(self).__name__)

    @staticmethod
    def _store(context: Context | None) -> Any:
        return context.get("task_state_store") if context is not None else None  # Airflow 3.3+

    def _forget_session(self, context: Context) -> None:
        from airflow_provider_kling.execution.face_sessions import forget_session

        forget_session(self._store(context))


class AvatarOperator(KlingSubmitTaskOperator):
    """
    Turn a portrait and a voice into a talking video (``POST /v1/videos/avatar/image2video``).

    Submitted at most once and waited for as the video operators are (deferrable or blocking,
    the capacity line, the budget floor). Returns the normalised result (``videos[0]``).

    :param image: The portrait: http(s) URL or raw Base64; jpg/png <= 10 MB, >= 300 px (templated).
    :param audio_id: A TTS audio id (``TextToSpeechOperator``'s ``audios[0].id``), or ...
    :param sound_file: ... an mp3/wav/m4a/aac URL or raw Base64, <= 5 MB, 2-300 s (templated).
    :param prompt: Actions, emotions, camera; <= 2500 characters (templated).
    :param mode: ``std`` (default) or ``pro`` (templated).
    :param watermark_info: ``{"enabled": true}`` for a watermarked copy too.

    The other parameters are those of ``KlingSubmitTaskOperator``.
    """

    task_kind = "avatar"
    request_fields: ClassVar[tuple[str, ...]] = (
        "image",
        "audio_id",
        "sound_file",
        "prompt",
        "mode",
        "watermark_info",
    )
    template_fields: Sequence[str] = (*request_fields, "external_task_id", "callback_url")

    def __init__(
        self,
        *,
        image: str | None = None,
        audio_id: str | None = None,
        sound_file: str | None = None,
        prompt: str | None = None,
        mode: str = "std",
        watermark_info: dict[str, bool] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.audio_id = audio_id
        self.sound_file = sound_file
        self.prompt = prompt
        self.mode = mode
        self.watermark_info = watermark_info
