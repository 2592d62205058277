"""The plugin's FastAPI app: the task-instance tab, the navigation page, published media; all authorised."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.resource_details import (
    ConnectionDetails,
    DagAccessEntity,
)
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from airflow_provider_kling import DEFAULT_CONN_ID
from airflow_provider_kling.plugins import data, render
from airflow_provider_kling.utils.units import units

URL_PREFIX = "/kling"
PACKS_TIMEOUT = 10.0  # seconds the page waits for a connection's packs
PACKS_LAG_NOTE = "Kling's remaining figures lag the real spend by up to 12 hours."
# Every route: an authenticated user allowed to read the task instances of the DAG in the path.
READ_DAG = Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.TASK_INSTANCE))


def _map_index(value: str | None) -> int:
    """The UI leaves ``{MAP_INDEX}`` as literal text for an unmapped task: anything not a number is -1."""
    try:
        return int(value) if value is not None else -1
    except ValueError:
        return -1


def create_app() -> FastAPI:
    app = FastAPI(title="Kling", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/ti/{dag_id}/{run_id}/{task_id}", response_class=HTMLResponse, dependencies=[READ_DAG])
    def task_tab(
        dag_id: str, run_id: str, task_id: str, session: SessionDep, map_index: str | None = None
    ) -> str:
        return tab_html(session, dag_id, run_id, task_id, _map_index(map_index))

    @app.get("/media/{dag_id}/{run_id}/{task_id}/{index}", dependencies=[READ_DAG])
    def published_media(
        dag_id: str, run_id: str, task_id: str, index: int, session: SessionDep, map_index: str | None = None
    ) -> FileResponse:
        path = data.published_file(session, dag_id, run_id, task_id, _map_index(map_index), index)
        if not path or not Path(path).is_file():  # named by no result, or not on this machine's disk
            raise HTTPException(404, "No published file here")
        return FileResponse(path)

    @app.get("/overview", response_class=HTMLResponse)
    def overview_page(user: GetUserDep, session: SessionDep) -> str:
        from airflow.api_fastapi.app import get_auth_manager

        manager = get_auth_manager()
        dag_ids = manager.get_authorized_dag_ids(user=user, method="GET")
        conn_ids = [
            conn_id
            for conn_id in kling_connections(session)
            if manager.is_authorized_connection(
                method="GET", details=ConnectionDetails(conn_id=conn_id), user=user
            )
        ]
        return overview_html(data.overview(session, set(dag_ids)), read_packs(conn_ids))

    return app


def kling_connections(session: Any) -> list[str]:
    """The ``kling`` connections in the metadata DB, and ``kling_default`` (maybe from a secrets backend)."""
    from airflow.models.connection import Connection
    from sqlalchemy import select

    found = set(session.scalars(select(Connection.conn_id).where(Connection.conn_type == "kling")))
    return sorted(found | {DEFAULT_CONN_ID})


def read_packs(conn_ids: list[str]) -> dict[str, Any]:
    """Every connection's packs at once; one that does not answer in time does not hold up the page."""
    pool = ThreadPoolExecutor(max_workers=max(1, min(8, len(conn_ids))))
    futures = {conn_id: pool.submit(packs_of, conn_id) for conn_id in conn_ids}
    done, _ = wait(futures.values(), timeout=PACKS_TIMEOUT)
    pool.shutdown(wait=False, cancel_futures=True)  # a late answer is dropped, not waited for
    late = f"no answer within {PACKS_TIMEOUT:.0f} s (the hook may still be retrying)"
    return {conn_id: f.result() if f in done else late for conn_id, f in futures.items()}


def packs_of(conn_id: str) -> Any:
    """The connection's resource packs, or the error's text (never its secrets: our errors hold none)."""
    from airflow_provider_kling.hooks.kling import KlingHook

    try:
        return KlingHook(conn_id).get_resource_packs()
    except Exception as exc:
        return f"cannot read the resource packs: {type(exc).__name__}: {exc}"


def tab_html(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    ti = data.task_instance(session, dag_id, run_id, task_id, map_index)
    if ti is None:
        raise HTTPException(404, "No such task instance")
    result = data.xcom(session, dag_id, run_id, task_id, map_index, data.RESULT_KEY)
    kling_id = data.xcom(session, dag_id, run_id, task_id, map_index, data.ID_KEY)
    if not data.is_kling_result(result) and kling_id is None and data.waiting_since(ti) is None:
        return render.page("Kling", "<p class='muted'>This task has no Kling result.</p>")
    result = result if data.is_kling_result(result) else {}
    copy_of = copy_finder(data.published_copies(session, dag_id, run_id), dag_id, run_id)
    settings = data.rendered_settings(session, dag_id, run_id, task_id, map_index)
    state = str(getattr(ti.state, "value", ti.state))
    body = [
        f"<h1>Kling · {escape(task_id)}</h1>",
        render.table(
            [
                ("Kling task id", result.get("kling_task_id") or kling_id),
                ("external_task_id", result.get("external_task_id") or settings.get("external_task_id")),
                ("Kling status", result.get("status") or "in progress"),
                ("Kling message", result.get("status_message")),
                ("Airflow state", state),
                ("API design", result.get("api_design")),
                ("Cost", render.cost(result) if result else ""),
            ]
        ),
        "<h2>Output</h2>",
        render.players(result, copy_of),
        "<h2>Timeline</h2>",
        render.table(timeline(ti, result)),
        "<h2>Prompt and settings</h2>",
        render.table([(k, v) for k, v in settings.items() if k != "external_task_id"]),
    ]
    return render.page("Kling", "".join(body))


def copy_finder(copies: dict[str, data.Published], dag_id: str, run_id: str) -> Any:
    """Kling id -> the URL of its published copy: http(s) as is, a local file through our media route."""

    def copy_of(kling_id: Any) -> str:
        copy = copies.get(str(kling_id)) if kling_id else None
        if copy is None:
            return ""
        if web := render.web_url(copy.path):
            return web
        if copy.path.startswith("file://") and Path(copy.path.removeprefix("file://")).is_file():
            return render.media_url(URL_PREFIX, dag_id, run_id, copy.task_id, copy.map_index, copy.index)
        return ""  # s3://… or a disk this api-server does not see: Kling's URL instead

    return copy_of


def timeline(ti: Any, result: dict[str, Any]) -> list[tuple[str, Any]]:
    """What happened when, oldest first, then the time spent before Kling accepted the task (1303 line)."""
    since = data.waiting_since(ti)
    events: list[tuple[str, Any]] = [
        ("started in Airflow (this try)", ti.start_date),
        ("waiting for a free Kling slot (1303 line) since", since),
        ("accepted by Kling", result.get("created_at")),
    ]
    if result.get("status") in ("succeed", "failed"):
        events.append((f"Kling: {result['status']}", result.get("updated_at")))
    # a deferred task is queued again to resume: this is the latest time, not the first
    events += [("queued in Airflow (latest)", ti.queued_dttm), ("ended in Airflow", ti.end_date)]
    known = sorted(((render.epoch(t), label, t) for label, t in events if render.epoch(t) is not None))
    rows: list[tuple[str, Any]] = [(label, render.when(t)) for _, label, t in known]
    accepted, started = render.epoch(result.get("created_at")), render.epoch(ti.start_date)
    if since is not None:
        rows.append(("waiting for a slot so far", f"{time.time() - since:.0f} s"))
    if accepted is not None and started is not None and accepted - started >= 1:
        rows.append(
            ("before Kling accepted it (includes any wait in the 1303 line)", f"{accepted - started:.0f} s")
        )
    finished = render.epoch(result.get("updated_at"))
    if result.get("status") in ("succeed", "failed") and accepted is not None and finished is not None:
        rows.append(("generation time on Kling", f"{finished - accepted:.0f} s"))
    return rows


def _run_link(item: dict[str, Any]) -> str:
    href = f"/dags/{quote(item['dag_id'], safe='')}/runs/{quote(item['run_id'], safe='')}"
    return f'<a href="{escape(href)}" target="_top">{escape(item["dag_id"])} / {escape(item["run_id"])}</a>'


def overview_html(view: data.Overview, packs: dict[str, Any]) -> str:
    body = ["<h1>Kling</h1>", "<h2>Resource packs</h2>", f"<p class='muted'>{escape(PACKS_LAG_NOTE)}</p>"]
    for conn_id, found in packs.items():
        body.append(f"<h3>{escape(conn_id)}</h3>")
        if isinstance(found, str):
            body.append(f"<p class='warn'>{escape(found)}</p>")
            continue
        rows = "".join(
            f"<tr><td>{escape(p.resource_pack_name or p.resource_pack_id or '')}</td>"
            f"<td>{escape(str(p.status))}</td>"
            f"<td>{p.remaining_quantity if p.remaining_quantity is not None else '?'}</td>"
            f"<td>{p.total_quantity if p.total_quantity is not None else '?'}</td>"
            f"<td>{render.when(p.invalid_time)}</td></tr>"
            for p in found.packs
        )
        body.append(
            f"<table class='kling-packs'><tr><th>pack</th><th>status</th><th>remaining</th><th>total</th>"
            f"<th>expires</th></tr>{rows}</table><p>Online remaining: {units(found.online_remaining)}</p>"
        )
    body += [
        "<h2>Units spent per day (last 30 days)</h2>",
        render.bar_chart(view.spend_by_day, title="per day"),
    ]
    body.append("<h2>Units spent per DAG</h2>")
    body.append(render.table([(dag, units(spent)) for dag, spent in view.spend_by_dag.items()]))
    body.append("<h2>In flight</h2>")
    flight = [
        (
            f"{item['dag_id']} / {item['task_id']}",
            f"{item['state']}, Kling task {item['kling_task_id'] or '(not yet submitted)'}"
            + (", waiting for a free slot (1303 line)" if item["waiting_for_slot"] else ""),
        )
        for item in view.in_flight
    ]
    body.append(render.table(flight) if flight else "<p class='muted'>No Kling task in flight.</p>")
    body.append("<h2>Recent outputs</h2><div class='media'>")
    for item in view.gallery:
        copy_of = copy_finder(item["copies"], item["dag_id"], item["run_id"])
        body.append(
            f"<div class='card'>{render.players(item['result'], copy_of)}"
            f"<div>{escape(item['task_id'])} · {_run_link(item)}</div></div>"
        )
    body.append("</div>")
    return render.page("Kling", "".join(body))
