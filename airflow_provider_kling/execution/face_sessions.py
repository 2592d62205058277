"""Where LipSyncOperator keeps its billed identify-face session so that a retry does not pay again."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_kling.api.speech import FaceSession

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
