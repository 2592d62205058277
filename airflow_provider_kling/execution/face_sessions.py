"""Where LipSyncOperator keeps its billed identify-face session so that a retry does not pay again."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.exceptions import KlingError, KlingValidationError

if TYPE_CHECKING:
    from airflow_provider_kling.api.speech import FaceSession
    from airflow_provider_kling.hooks.kling import KlingHook

# Task state store key (Airflow 3.3+): the store outlives a task's tries, XCom does not.
FACE_SESSION_KEY = "kling_face_session"
# A session is valid 24 h (KLING_API §10.1); re-used only while at least an hour of that is left.
FACE_SESSION_REUSE_SECONDS = 23 * 3600


def load_session(store: Any, video: str | None) -> FaceSession | None:
    """The session an earlier try saved for this same video, while it is still valid; else None."""
    from airflow_provider_kling.api.speech import parse_face_session

    saved = store.get(FACE_SESSION_KEY) if store is not None else None
    if not isinstance(saved, dict) or saved.get("video") != video:
        return None
    try:
        age = time.time() - float(saved.get("identified_at", 0))
    except (TypeError, ValueError):
        return None
    if not 0 <= age < FACE_SESSION_REUSE_SECONDS:
        return None
    return parse_face_session(saved)


def save_session(store: Any, video: str | None, session: FaceSession) -> None:
    """Keep ``session`` for the task's next tries; the row expires with the session (24 h)."""
    if store is not None:
        saved = {**session.model_dump(mode="json"), "video": video, "identified_at": time.time()}
        store.set(FACE_SESSION_KEY, saved, retention=timedelta(hours=24))


def forget_session(store: Any) -> None:
    """The lip-sync video is done: the session is of no more use (leave no state-store row)."""
    if store is not None:
        store.delete(FACE_SESSION_KEY)


async def session_for(
    hook: KlingHook, store: Any, video_id: str | None, video_url: str | None, log: Any
) -> FaceSession:
    """The earlier try's session for this video while valid, else a new (billed) identify-face."""
    video = video_id or video_url
    saved = load_session(store, video)
    if saved is not None:
        log.info("Re-using identify-face session %s of an earlier try (no new charge)", saved.session_id)
        return saved
    session = await hook.aidentify_face(video_id, video_url)
    faces = ", ".join(f"{f.face_id} ({f.start_time}-{f.end_time} ms)" for f in session.face_data)
    log.info("Identify-face session %s found faces: %s", session.session_id, faces or "none")
    save_session(store, video, session)
    return session


def given_session(data: Any, operator: str) -> FaceSession | None:
    """An identify-face answer handed to the operator (``face_session``), checked like any argument."""
    from airflow_provider_kling.api.speech import parse_face_session

    if not data:
        return None
    try:
        return parse_face_session(data)
    except KlingError as exc:
        raise KlingValidationError(
            f"Invalid {operator}: face_session: not an identify-face answer ({exc})"
        ) from None
