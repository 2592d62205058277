"""What the UI plugin shows, read from Airflow's metadata DB: Kling results, published copies, waits."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

RESULT_KEY = "return_value"
ID_KEY = "kling_task_id"  # pushed as soon as Kling accepted the task (before the wait)
# Keys of the request the tab shows; whatever else a rendered field holds is cut to this length.
MAX_SETTING_CHARS = 300
# What the media route serves: files the publish operator names `<kling ids>.<media ext>` (safe_name).
SERVED_NAME = re.compile(r"[A-Za-z0-9_-]+\.(mp4|mp3|wav|m4a|png|jpe?g|webp)")
SUBMIT_TRIGGER = "airflow_provider_kling.triggers.submit.KlingSubmitTrigger"
TRIGGER_PREFIX = "airflow_provider_kling."


def is_kling_result(value: Any) -> bool:
    """The normalised result every Kling operator returns (see ``api/tasks.py``), whatever its kind."""
    return isinstance(value, dict) and "kling_task_id" in value and "api_design" in value


def is_publish_result(value: Any) -> bool:
    return isinstance(value, dict) and "destination" in value and isinstance(value.get("files"), list)


def _xcom_rows(session: Session, *, dag_ids: Any = None, **where: Any) -> list[Any]:
    from airflow.models.xcom import XComModel

    query = select(XComModel)
    for name, value in where.items():
        query = query.where(getattr(XComModel, name) == value)
    if dag_ids is not None:
        query = query.where(XComModel.dag_id.in_(list(dag_ids)))
    return list(session.scalars(query.order_by(XComModel.timestamp.desc()).limit(2000)))


def _value(row: Any) -> Any:
    from airflow.models.xcom import XComModel

    try:
        return XComModel.deserialize_value(row)
    except Exception:  # a foreign XCom backend or an odd value: not ours to show
        return None


def xcom(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> Any:
    rows = _xcom_rows(session, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key)
    return _value(rows[0]) if rows else None


@dataclass
class Published:
    """A file a publish task of the same run wrote, found by the Kling id its result names."""

    task_id: str
    map_index: int
    index: int
    path: str


def published_copies(session: Session, dag_id: str, run_id: str) -> dict[str, Published]:
    """Kling id -> its published copy, from the results of the run's publish tasks (never the request)."""
    found: dict[str, Published] = {}
    for row in _xcom_rows(session, dag_id=dag_id, run_id=run_id, key=RESULT_KEY):
        value = _value(row)
        if not is_publish_result(value):
            continue
        for index, item in enumerate(value["files"]):
            if isinstance(item, dict) and item.get("kling_id") and isinstance(item.get("path"), str):
                found.setdefault(
                    str(item["kling_id"]), Published(row.task_id, row.map_index, index, item["path"])
                )
    return found


def published_file(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int, index: int
) -> str:
    """The local path of file ``index`` of a publish task's result ("" unless its own result names one)."""
    value = xcom(session, dag_id, run_id, task_id, map_index, RESULT_KEY)
    if not is_publish_result(value) or not 0 <= index < len(value["files"]):
        return ""
    path = value["files"][index].get("path") if isinstance(value["files"][index], dict) else None
    destination = value.get("destination")
    if not isinstance(path, str) or not path.startswith("file://") or not isinstance(destination, str):
        return ""
    # Even a result someone edited through the XCom API names no other file: a media file the
    # publish operator could have written (its name pattern), directly inside the destination.
    local = os.path.realpath(path.removeprefix("file://"))
    folder = os.path.realpath(destination.removeprefix("file://"))
    if os.path.dirname(local) != folder or not SERVED_NAME.fullmatch(os.path.basename(local)):
        return ""
    return local


def task_instance(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    from airflow.models.taskinstance import TaskInstance

    query = select(TaskInstance).where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id == run_id,
        TaskInstance.task_id == task_id,
        TaskInstance.map_index == map_index,
    )
    return session.scalars(query).first()


def rendered_settings(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> dict[str, str]:
    """The task's rendered template fields (the request it sent), each cut short; secrets never are here."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rtif

    query = select(Rtif.rendered_fields).where(
        Rtif.dag_id == dag_id, Rtif.run_id == run_id, Rtif.task_id == task_id, Rtif.map_index == map_index
    )
    fields = session.scalars(query).first() or {}
    shown: dict[str, str] = {}
    for name, value in fields.items():
        if value in (None, "", [], {}) or name == "callback_url":  # a callback URL may carry a token
            continue
        text = value if isinstance(value, str) else repr(value)
        shown[name] = text if len(text) <= MAX_SETTING_CHARS else text[:MAX_SETTING_CHARS] + "…"
    return shown


def waiting_since(ti: Any) -> float | None:
    """When a deferred task started waiting in the capacity (1303) line, from its trigger's kwargs."""
    trigger = getattr(ti, "trigger", None) if ti is not None else None
    if trigger is None or trigger.classpath != SUBMIT_TRIGGER:
        return None
    try:
        since = trigger.kwargs.get("waiting_since")
    except Exception:  # kwargs it cannot decrypt (rotated Fernet key): no figure rather than an error
        return None
    return float(since) if isinstance(since, (int, float)) else None


@dataclass
class Overview:
    """The nav page's figures over the DAGs the user may read."""

    spend_by_dag: dict[str, float] = field(default_factory=dict)
    spend_by_day: dict[str, float] = field(default_factory=dict)
    results: int = 0
    gallery: list[dict[str, Any]] = field(default_factory=list)
    in_flight: list[dict[str, Any]] = field(default_factory=list)


def overview(session: Session, dag_ids: set[str], *, days: int = 30, gallery_size: int = 12) -> Overview:
    from airflow.models.taskinstance import TaskInstance

    out = Overview()
    if not dag_ids:
        return out
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    by_dag: dict[str, float] = defaultdict(float)
    by_day: dict[str, float] = defaultdict(float)
    for row in _xcom_rows(session, dag_ids=dag_ids, key=RESULT_KEY):
        if row.timestamp is not None and row.timestamp < since:
            continue
        value = _value(row)
        if not is_kling_result(value):
            continue
        out.results += 1
        credits = value.get("credits")
        if isinstance(credits, (int, float)):
            by_dag[row.dag_id] += float(credits)
            by_day[row.timestamp.strftime("%Y-%m-%d")] += float(credits)
        if len(out.gallery) < gallery_size and (
            value.get("videos") or value.get("images") or value.get("audios")
        ):
            where = {"dag_id": row.dag_id, "run_id": row.run_id, "task_id": row.task_id}
            out.gallery.append({**where, "map_index": row.map_index, "result": value})
    runs = {(item["dag_id"], item["run_id"]) for item in out.gallery}
    copies = {run: published_copies(session, *run) for run in runs}
    for item in out.gallery:
        item["copies"] = copies[(item["dag_id"], item["run_id"])]
    out.spend_by_dag = dict(sorted(by_dag.items()))
    out.spend_by_day = dict(sorted(by_day.items()))
    query = select(TaskInstance).where(
        TaskInstance.dag_id.in_(list(dag_ids)), TaskInstance.state.in_(["deferred", "running", "queued"])
    )
    for ti in session.scalars(query.limit(500)):
        trigger = getattr(ti, "trigger", None)
        ours = trigger is not None and trigger.classpath.startswith(TRIGGER_PREFIX)
        kling_id = xcom(session, ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ID_KEY)
        if not ours and kling_id is None:
            continue
        since_line = waiting_since(ti)
        out.in_flight.append(
            {
                "dag_id": ti.dag_id,
                "run_id": ti.run_id,
                "task_id": ti.task_id,
                "state": str(getattr(ti.state, "value", ti.state)),
                "kling_task_id": kling_id,
                "waiting_for_slot": since_line is not None,
                "waiting_since": since_line,
            }
        )
    return out
