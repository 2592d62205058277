"""KlingHook's speech endpoints: synchronous TTS and identify-face, and the preset voice list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_kling.api.kinds import TEXT_TO_SPEECH, TaskKind
from airflow_provider_kling.api.requests import KlingRequest
from airflow_provider_kling.api.speech import (
    FaceSession,
    IdentifyFaceRequest,
    Voice,
    parse_face_session,
    parse_voices,
)
from airflow_provider_kling.api.tasks import KlingTask, TaskStatus, parse_task
from airflow_provider_kling.exceptions import (
    KlingConcurrencyLimitError,
    KlingError,
    KlingRateLimitError,
    KlingSyncAnswerPendingError,
    KlingTaskFailedError,
)

T = TypeVar("T")

IDENTIFY_FACE_PATH = "/v1/videos/identify-face"
PRESET_VOICES_PATH = "/v1/general/presets-voices"


class _OutcomeUnknown(Exception):
    """A paid synchronous POST may have landed: not retried in the hook (it has no id to look up by)."""

    def __init__(self, error: KlingError) -> None:
        super().__init__(str(error))
        self.error = error


LIST_SCAN_PAGES = 4
LIST_SCAN_PAGE_SIZE = 500  # the list's documented maximum


class SpeechHookMixin:
    """The speech calls of :class:`~airflow_provider_kling.hooks.kling.KlingHook` (mixed into it).

    TTS and identify-face are synchronous and billed (0.05 units per call each, KLING_API §9.1,
    §10.1), and neither takes an ``external_task_id``: nothing can be looked up after a lost
    answer. So a POST is repeated by the hook only after a refusal that created nothing
    (1302/1303); a timeout, a reset or a 5xx ends the call with that error, and an Airflow
    retry calls (and pays) again.
    """

    if TYPE_CHECKING:

        async def _send_once(
            self, method: str, path: str, *, params: dict[str, Any] | None, body: Any
        ) -> Any: ...

        async def _with_retries(
            self, what: str, call: Callable[[], Awaitable[T]], *, retry_concurrency: bool = True
        ) -> T: ...

        async def arequest(
            self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
        ) -> Any: ...

        def _run_sync(self, make: Callable[[], Awaitable[T]]) -> T: ...

        async def alist_tasks(
            self, task_kind: TaskKind, page_num: int = 1, page_size: int = 30
        ) -> list[KlingTask]: ...

    async def afind_in_list(self, kind: TaskKind, external_id: str) -> KlingTask | None:
        """The task of ``external_id`` among the newest ``LIST_SCAN_PAGES`` pages of ``kind``'s list.

        For kinds whose query path takes only Kling's task id: a re-attach must still find the
        task an earlier try paid for (at-most-once) before anything is submitted again.
        """
        for page in range(1, LIST_SCAN_PAGES + 1):
            tasks = await self.alist_tasks(kind, page, LIST_SCAN_PAGE_SIZE)
            for task in tasks:
                if task.external_task_id == external_id:
                    return task
            if len(tasks) < LIST_SCAN_PAGE_SIZE:
                return None
        return None

    async def _post_paid_once(self, what: str, path: str, body: dict[str, Any]) -> Any:
        """POST a billed synchronous call: retried only after 1302/1303, never after an unknown outcome."""

        async def attempt() -> Any:
            try:
                return await self._send_once("POST", path, params=None, body=body)
            except (KlingRateLimitError, KlingConcurrencyLimitError):
                raise  # refused before anything was done: retried with backoff
            except KlingError as exc:
                if exc.transient:
                    raise _OutcomeUnknown(exc) from None
                raise

        try:
            return await self._with_retries(what, attempt)
        except _OutcomeUnknown as unknown:
            raise unknown.error from None

    async def asynthesize_speech(self, request: KlingRequest | Mapping[str, Any]) -> KlingTask:
        """
        ``POST /v1/audio/tts``: Kling answers with the finished task (synchronous, KLING_API §9.1).

        Returns the task when it ``succeed``ed (``task_result.audios[0]`` = ``{id, url,
        duration}``). A ``failed`` answer raises :class:`KlingTaskFailedError` with Kling's
        message; ``submitted``/``processing`` (not documented for TTS, and there is no query path)
        raises the retryable :class:`KlingSyncAnswerPendingError`. TTS takes no
        ``external_task_id``: one call per invocation, and every call is paid (0.05 units).
        """
        body = request.to_payload() if isinstance(request, KlingRequest) else dict(request)
        data = await self._post_paid_once("Text-to-speech", TEXT_TO_SPEECH.path, body)
        task = parse_task(data, "answer to the tts create")
        if task.task_status is TaskStatus.FAILED:
            raise KlingTaskFailedError(task.task_id, task.task_status_msg or "")
        if task.task_status is not TaskStatus.SUCCEED:
            raise KlingSyncAnswerPendingError(task.task_id, task.task_status.value, "text-to-speech")
        return task

    async def aidentify_face(self, video_id: str | None = None, video_url: str | None = None) -> FaceSession:
        """
        ``POST /v1/videos/identify-face`` (synchronous, billed 0.05 units; KLING_API §10.1).

        Exactly one of ``video_id`` / ``video_url``. Returns the ``session_id`` (valid 24 h) and
        the faces found with their lip-syncable interval in ms (``face_data`` may be empty).
        """
        request = IdentifyFaceRequest.build(video_id=video_id, video_url=video_url)
        # Both keys, as the doc's example: the one not used is sent as "".
        body = {"video_id": "", "video_url": "", **request.to_payload()}
        return parse_face_session(await self._post_paid_once("Identify face", IDENTIFY_FACE_PATH, body))

    async def alist_voices(self, page_num: int = 1, page_size: int = 500) -> list[Voice]:
        """The preset voices (``GET /v1/general/presets-voices``, KLING_API §9.2), one page of them."""
        data = await self.arequest(
            "GET", PRESET_VOICES_PATH, params={"pageNum": page_num, "pageSize": page_size}
        )
        return parse_voices(data)

    def synthesize_speech(self, request: KlingRequest | Mapping[str, Any]) -> KlingTask:
        """Sync :meth:`asynthesize_speech`."""
        return self._run_sync(lambda: self.asynthesize_speech(request))

    def identify_face(self, video_id: str | None = None, video_url: str | None = None) -> FaceSession:
        """Sync :meth:`aidentify_face`."""
        return self._run_sync(lambda: self.aidentify_face(video_id, video_url))

    def list_voices(self, page_num: int = 1, page_size: int = 500) -> list[Voice]:
        """Sync :meth:`alist_voices`."""
        return self._run_sync(lambda: self.alist_voices(page_num, page_size))
