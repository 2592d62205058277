"""The "Kling result" and "Published copy" extra links, read from the task's own XCom result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


def _web_url(value: Any) -> str:
    """``value`` when it is an http(s) URL (the only links the UI should open), else ``""``."""
    if isinstance(value, str) and value.lower().startswith(("https://", "http://")):
        return value
    return ""


def result_url(result: Any) -> str:
    """The first video, else audio, else image URL of a normalised Kling result (``""`` if none)."""
    if not isinstance(result, dict):
        return ""
    for kind, keys in (("videos", ("url",)), ("audios", ("url", "url_mp3", "url_wav")), ("images", ("url",))):
        for item in result.get(kind) or []:
            if isinstance(item, dict):
                for key in keys:
                    if url := _web_url(item.get(key)):
                        return url
    return ""


def published_url(result: Any) -> str:
    """The first published file a browser can open (an http(s) destination), else ``""``."""
    if not isinstance(result, dict):
        return ""
    for item in result.get("files") or []:
        if isinstance(item, dict) and (url := _web_url(item.get("path"))):
            return url
    return ""


def _return_value(ti_key: TaskInstanceKey) -> Any:
    # The worker computes links after the task's return value is in XCom (task runner's finalize).
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key="return_value")


class KlingResultLink(BaseOperatorLink):
    """Kling's URL of the task's first video (else audio, else image), once the task has one."""

    name = "Kling result"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return result_url(_return_value(ti_key))


class KlingPublishedLink(BaseOperatorLink):
    """The first published file, when the destination is one a browser can open (http/https)."""

    name = "Published copy"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return published_url(_return_value(ti_key))
