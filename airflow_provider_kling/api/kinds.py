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
_SPEECH_REQUESTS = "airflow_provider_kling.api.speech"
# Synchronous: the create answer is the finished task; there is no query or list path (§9.1).
TEXT_TO_SPEECH = TaskKind("tts", "/v1/audio/tts", "TextToSpeechRequest", _SPEECH_REQUESTS)
ADVANCED_LIP_SYNC = TaskKind(
    "advanced-lip-sync", "/v1/videos/advanced-lip-sync", "AdvancedLipSyncRequest", _SPEECH_REQUESTS
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


def get_kind(task_kind: str | TaskKind) -> TaskKind:
    if isinstance(task_kind, TaskKind):
        return task_kind
    try:
        return TASK_KINDS[task_kind]
    except KeyError:
        raise KlingValidationError(
            f"task_kind: unknown Kling task kind {task_kind!r}; expected one of {sorted(TASK_KINDS)}"
        ) from None
