"""The kinds of Kling task this provider can submit and wait for.

Every kind shares the same submit / query / list shape under its own path, so adding a kind
is one entry here plus a request model: no polling or HTTP code is copied.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_kling.exceptions import KlingValidationError

if TYPE_CHECKING:
    from airflow_provider_kling.api.requests import KlingRequest


# omni-image series (docs/kling-api.md#omni-image): series_amount defaults to 4; "auto" holds
# as many slots as images made, known only at the end, so it is counted as a series' least (2).
SERIES_DEFAULT_AMOUNT = 4
SERIES_AUTO_SLOTS = 2


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class TaskKind:
    name: str
    path: str
    # Named, not imported: operator modules import this at DAG parse, pydantic models on use.
    request_model_name: str | None
    request_module: str = "airflow_provider_kling.api.audio"
    # "legacy": POST/GET under ``path``, model in the body; "new": model in the path, options{}
    # in the body, tasks read back through GET /tasks (docs/kling-api.md#api-designs).
    design: Literal["legacy", "new"] = "legacy"
    # Kling counts parallel tasks per pack type (docs/kling-api.md#concurrency): an image task holds
    # ``n`` slots of the image packs, every other task one slot of the video packs.
    pack: Literal["video", "image"] = "video"
    # Kling documents ``GET {path}/{external_task_id}`` for most legacy kinds; where it lists only
    # the task id (advanced lip-sync, docs/kling-api.md#lip-sync) a look-up also scans the list.
    query_by_external_id: bool = True

    def slots(self, payload: Mapping[str, Any]) -> int:
        """Parallel-task slots a task of this kind with this request body holds."""
        if self.pack != "image":
            return 1
        if payload.get("result_type") == "series":
            amount = payload.get("series_amount", SERIES_DEFAULT_AMOUNT)
            return amount if _is_count(amount) else SERIES_AUTO_SLOTS
        n = payload.get("n", 1)
        return n if _is_count(n) else 1

    def freed_slots(self, images_made: int) -> int:
        """Slots a finished task gave back, judged from its result: an image task's images
        (one when it made none, e.g. it failed: the capacity line's probe finds the rest)."""
        return max(1, images_made) if self.pack == "image" else 1

    @property
    def request_model(self) -> type[KlingRequest]:
        if self.request_model_name is None:
            raise KlingValidationError(f"task_kind: {self.name} has no request model in this provider yet")
        models = importlib.import_module(self.request_module)
        model: type[KlingRequest] = getattr(models, self.request_model_name)
        return model

    def task_path(self, ident: str) -> str:
        """The legacy single-task query; new-design tasks have none (``GET /tasks?task_ids=``)."""
        if self.design == "new":
            raise KlingValidationError(
                f"task_kind: {self.name} is a new-design kind: its tasks are read through GET /tasks"
            )
        return f"{self.path}/{ident}"

    def submit_route(self, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The create call's path and body for a payload as the request models write it.

        Payloads of both designs carry ``external_task_id``, ``callback_url`` (and, new design,
        ``model_name``) at the top, so the at-most-once machinery reads them the same way; the
        new design sends the model in the path and the two ids inside ``options{}``.
        """
        body = dict(payload)
        if self.design == "legacy":
            return self.path, body
        model = body.pop("model_name", None)
        if not model:
            raise KlingValidationError(f"model_name: a {self.name} request names its model")
        options = dict(body.pop("options", None) or {})
        for key in ("external_task_id", "callback_url"):
            if body.get(key) is not None:
                options[key] = body.pop(key)
            body.pop(key, None)
        if options:
            body["options"] = options
        return f"{self.path}/{model}", body


VIDEO_TO_AUDIO = TaskKind("video-to-audio", "/v1/audio/video-to-audio", "VideoToAudioRequest")
_VIDEO_REQUESTS = "airflow_provider_kling.api.video"
TEXT_TO_VIDEO = TaskKind("text2video", "/v1/videos/text2video", "TextToVideoRequest", _VIDEO_REQUESTS)
IMAGE_TO_VIDEO = TaskKind("image2video", "/v1/videos/image2video", "ImageToVideoRequest", _VIDEO_REQUESTS)
TEXT_TO_AUDIO = TaskKind("text-to-audio", "/v1/audio/text-to-audio", "TextToAudioRequest")
_IMAGE_REQUESTS = "airflow_provider_kling.api.images"
IMAGE_GENERATION = TaskKind(
    "image-generation", "/v1/images/generations", "ImageGenerationRequest", _IMAGE_REQUESTS, pack="image"
)
OMNI_IMAGE = TaskKind(
    "omni-image", "/v1/images/omni-image", "OmniImageRequest", _IMAGE_REQUESTS, pack="image"
)
EFFECTS = TaskKind("effects", "/v1/videos/effects", "EffectsRequest", "airflow_provider_kling.api.effects")
_SPEECH_REQUESTS = "airflow_provider_kling.api.speech"
# Synchronous: the create answer is the finished task; there is no query or list path (§9.1).
TEXT_TO_SPEECH = TaskKind("tts", "/v1/audio/tts", "TextToSpeechRequest", _SPEECH_REQUESTS)
ADVANCED_LIP_SYNC = TaskKind(
    "advanced-lip-sync",
    "/v1/videos/advanced-lip-sync",
    "AdvancedLipSyncRequest",
    _SPEECH_REQUESTS,
    query_by_external_id=False,
)
AVATAR = TaskKind("avatar", "/v1/videos/avatar/image2video", "AvatarRequest", _SPEECH_REQUESTS)


# New design (docs/kling-api.md#api-designs): the model goes in the path, tasks are read back
# through GET /tasks whatever their family. Names are the path families, legacy names stay as they are.
_NEW_VIDEO_REQUESTS = "airflow_provider_kling.api.new_video"
NEW_TEXT_TO_VIDEO = TaskKind(
    "text-to-video", "/text-to-video", "NewTextToVideoRequest", _NEW_VIDEO_REQUESTS, design="new"
)
NEW_IMAGE_TO_VIDEO = TaskKind(
    "image-to-video", "/image-to-video", "NewImageToVideoRequest", _NEW_VIDEO_REQUESTS, design="new"
)
OMNI_VIDEO = TaskKind("omni-video", "/omni-video", "OmniVideoRequest", _NEW_VIDEO_REQUESTS, design="new")
MOTION_CONTROL = TaskKind(
    "motion-control", "/motion-control", "MotionControlRequest", _NEW_VIDEO_REQUESTS, design="new"
)
# Where every new-design task is read back (GET: by ids; POST: the cursor list).
NEW_DESIGN_TASKS_PATH = "/tasks"

TASK_KINDS: dict[str, TaskKind] = {
    k.name: k
    for k in (
        VIDEO_TO_AUDIO,
        TEXT_TO_VIDEO,
        IMAGE_TO_VIDEO,
        TEXT_TO_AUDIO,
        TEXT_TO_SPEECH,
        ADVANCED_LIP_SYNC,
        AVATAR,
        NEW_TEXT_TO_VIDEO,
        NEW_IMAGE_TO_VIDEO,
        OMNI_VIDEO,
        MOTION_CONTROL,
    )
}
# Images and effects: legacy design only.
TASK_KINDS.update({k.name: k for k in (IMAGE_GENERATION, OMNI_IMAGE, EFFECTS)})


def get_kind(task_kind: str | TaskKind) -> TaskKind:
    if isinstance(task_kind, TaskKind):
        return task_kind
    try:
        return TASK_KINDS[task_kind]
    except KeyError:
        raise KlingValidationError(
            f"task_kind: unknown Kling task kind {task_kind!r}; expected one of {sorted(TASK_KINDS)}"
        ) from None
