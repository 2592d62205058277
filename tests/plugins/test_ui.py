"""The UI plugin's routes on a real finished kling_content_pipeline run (dag.test, emulator), through auth."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from fastapi.testclient import TestClient

from airflow_provider_kling.utils.units import units
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, fast_config
from tests.dags.test_example_dags import load_dag

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e

DAG_ID = "kling_content_pipeline"
PROMPT = "A lighthouse at dusk, waves below"


class DenyPipelineAuthManager(SimpleAuthManager):
    """Airflow's simple auth manager, except that nobody may read kling_content_pipeline."""

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if details is not None and details.id == DAG_ID:
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )


@pytest.fixture(scope="module")
def pipeline_run(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real run of the example pipeline; the emulator stays up so the packs can be read."""
    destination = tmp_path_factory.mktemp("published")
    with EmulatorServer(fast_config()) as emulator, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url))
        mp.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")
        run = load_dag(airflow_db, DAG_ID).test(
            run_conf={"prompt": PROMPT, "duration": "5", "destination": str(destination)}
        )
        assert run.state == "success"
        yield {"run_id": run.run_id, "emulator": emulator, "destination": destination}


def client_for(
    monkeypatch: pytest.MonkeyPatch, role: str | None, manager: type = SimpleAuthManager
) -> TestClient:
    """A client of the plugin's app; with ``role``, it carries a JWT the configured auth manager issued."""
    from airflow.api_fastapi import app as api_app

    from airflow_provider_kling.plugins.app import create_app

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{manager.__module__}.{manager.__qualname__}")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "a-test-signing-key-for-the-kling-ui-plugin-" * 2)
    # the api-server keeps one auth manager per process; a test picks its own
    monkeypatch.setattr(api_app._AuthManagerState, "instance", None)
    auth = api_app.create_auth_manager()
    assert type(auth) is manager
    client = TestClient(create_app())
    if role is not None:
        client.headers["Authorization"] = "Bearer " + auth.generate_jwt(
            SimpleAuthManagerUser(username="u", role=role)
        )
    return client


def tab(client: TestClient, run_id: str, task_id: str) -> Any:
    # the href as Airflow's UI fills it for an unmapped task: {MAP_INDEX} stays literal
    return client.get(f"/ti/{DAG_ID}/{run_id}/{task_id}", params={"map_index": "{MAP_INDEX}"})


def xcom_value(run_id: str, task_id: str, key: str = "return_value") -> Any:
    from airflow.utils.session import create_session

    from airflow_provider_kling.plugins.data import xcom

    with create_session() as session:
        return xcom(session, DAG_ID, run_id, task_id, -1, key)


def test_the_video_tab_shows_the_published_copy_ids_timeline_prompt_and_cost(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = pipeline_run["run_id"]
    result = xcom_value(run_id, "make_video")
    client = client_for(monkeypatch, "viewer")
    page = tab(client, run_id, "make_video")
    assert page.status_code == 200, page.text
    html = page.text
    for shown in (
        result["kling_task_id"],
        result["external_task_id"],
        PROMPT,
        "accepted by Kling",
        "Timeline",
    ):
        assert shown in html
    assert units(result["credits"]) in html  # "1 unit", "2.5 units"
    [src] = re.findall(r'<video class="kling-video" src="([^"]+)"', html)
    assert src.startswith("/kling/media/"), "the published local copy, served by the plugin"
    video = client.get(src.removeprefix("/kling").replace("&amp;", "&"))
    assert video.status_code == 200
    assert video.content[4:8] == b"ftyp"  # an MP4
    published = pipeline_run["destination"] / f"{result['videos'][0]['id']}.mp4"
    assert video.content == published.read_bytes()


def test_the_audio_tab_has_an_audio_player(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    html = tab(client_for(monkeypatch, "viewer"), pipeline_run["run_id"], "make_audio").text
    assert '<audio class="kling-audio"' in html
    assert xcom_value(pipeline_run["run_id"], "make_audio")["kling_task_id"] in html


def test_a_task_without_a_kling_result_says_so(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tab(client_for(monkeypatch, "viewer"), pipeline_run["run_id"], "publish")
    assert page.status_code == 200 and "no Kling result" in page.text


def test_no_secret_on_any_page(pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

    client = client_for(monkeypatch, "admin")
    pages = [tab(client, pipeline_run["run_id"], t).text for t in ("make_video", "make_audio")]
    pages.append(client.get("/overview").text)
    for html in pages:
        assert DEFAULT_SECRET_KEY not in html and DEFAULT_ACCESS_KEY not in html
        assert "Bearer" not in html and "eyJ" not in html  # no JWT


@pytest.mark.parametrize(
    "path",
    [f"/ti/{DAG_ID}/r/make_video", f"/media/{DAG_ID}/r/publish/0", "/overview"],
)
def test_an_anonymous_request_is_refused(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = client_for(monkeypatch, None).get(path)
    assert answer.status_code in (401, 403)
    assert "<video" not in answer.text


def test_a_user_the_auth_manager_denies_for_the_dag_is_refused(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = pipeline_run["run_id"]
    allowed = client_for(monkeypatch, "admin")
    src = re.findall(r'src="(/kling/media/[^"]+)"', tab(allowed, run_id, "make_video").text)[0]
    gallery = allowed.get("/overview").text
    assert run_id in gallery
    denied = client_for(monkeypatch, "admin", DenyPipelineAuthManager)  # an admin, but not for this DAG
    assert tab(denied, run_id, "make_video").status_code == 403
    assert denied.get(src.removeprefix("/kling").replace("&amp;", "&")).status_code == 403
    overview = denied.get("/overview")
    assert overview.status_code == 200
    assert run_id not in overview.text and DAG_ID not in overview.text  # neither its spend nor its media


def test_the_media_route_serves_only_files_a_publish_result_names(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(monkeypatch, "viewer")
    run_id = pipeline_run["run_id"]
    files = xcom_value(run_id, "publish")["files"]
    assert client.get(f"/media/{DAG_ID}/{run_id}/publish/{len(files) - 1}").status_code == 200
    assert client.get(f"/media/{DAG_ID}/{run_id}/publish/{len(files)}").status_code == 404
    assert client.get(f"/media/{DAG_ID}/{run_id}/make_video/0").status_code == 404  # not a publish result
    assert (
        client.get(f"/media/{DAG_ID}/{run_id}/publish/0", params={"path": "/etc/passwd"}).content[4:8]
        != b"root"
    )


def set_result(run_id: str, task_id: str, value: Any) -> None:
    from airflow.models.xcom import XComModel

    XComModel.set("return_value", value, dag_id=DAG_ID, task_id=task_id, run_id=run_id)


def test_an_edited_publish_result_cannot_name_another_file(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """XCom can be edited through Airflow's API: a path outside the destination, or not a media file
    the publish operator writes, is not served even when the result names it."""
    run_id = pipeline_run["run_id"]
    original = xcom_value(run_id, "publish")
    destination = pipeline_run["destination"]
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not for the browser")
    (destination / "notes.txt").write_text("not media")
    client = client_for(monkeypatch, "admin")
    named = [f"file://{secret}", f"file://{destination}/notes.txt", f"file://{destination}/../{secret.name}"]
    try:
        files = [
            {"kind": "video", "kling_id": f"x{i}", "format": "mp4", "path": p} for i, p in enumerate(named)
        ]
        set_result(run_id, "publish", {**original, "files": files})
        for index in range(len(named)):
            assert client.get(f"/media/{DAG_ID}/{run_id}/publish/{index}").status_code == 404, named[index]
    finally:
        set_result(run_id, "publish", original)
    assert client.get(f"/media/{DAG_ID}/{run_id}/publish/0").status_code == 200


def test_a_task_waiting_in_the_1303_line_shows_since_when(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deferred task whose trigger is KlingSubmitTrigger waits for a free slot: tab and page say so."""
    import time

    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run_id, since = pipeline_run["run_id"], time.time() - 95
    where = (
        TaskInstance.dag_id == DAG_ID,
        TaskInstance.run_id == run_id,
        TaskInstance.task_id == "make_video",
    )
    with create_session() as session:
        ti = session.scalars(select(TaskInstance).where(*where)).one()
        state, trigger_id = ti.state, ti.trigger_id
        trigger = Trigger(
            "airflow_provider_kling.triggers.submit.KlingSubmitTrigger", {"waiting_since": since}
        )
        session.add(trigger)
        session.flush()
        ti.state, ti.trigger_id, added = "deferred", trigger.id, trigger.id
    client = client_for(monkeypatch, "admin")
    try:
        html = tab(client, run_id, "make_video").text
        page = client.get("/overview").text
    finally:
        with create_session() as session:
            ti = session.scalars(select(TaskInstance).where(*where)).one()
            ti.state, ti.trigger_id = state, trigger_id
            session.flush()
            session.delete(session.get(Trigger, added))
    assert "waiting for a free Kling slot (1303 line) since" in html
    assert re.search(r"waiting for a slot so far</th><td>9\d s", html), html
    assert "waiting for a free slot (1303 line)" in page and "deferred" in page


def test_the_overview_shows_packs_spend_chart_and_gallery(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = pipeline_run["emulator"]  # kling_default points at it (the fixture's environment)
    page = client_for(monkeypatch, "admin").get("/overview")
    assert page.status_code == 200
    html = page.text
    assert "kling-packs" in html and "12 hours" in html, html
    packs = emulator.emulator.config.resource_packs
    assert packs and all(pack.name in html and pack.status in html for pack in packs)
    assert '<svg class="kling-chart"' in html
    spent = sum(xcom_value(pipeline_run["run_id"], t)["credits"] or 0 for t in ("make_video", "make_audio"))
    assert spent > 0 and DAG_ID in html
    assert pipeline_run["run_id"] in html  # the gallery names each output's DAG run
    assert re.search(r'<video class="kling-video" src="/kling/media/', html)  # the published copy
    # Kling's URLs are hotlink-protected: every player asks for its file without a Referer
    players = re.findall(r"<(?:video|audio|img) [^>]*>", html)
    assert players and all('referrerpolicy="no-referrer"' in tag for tag in players)


def test_the_overview_shows_packs_only_to_who_may_read_connections(
    pipeline_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = client_for(monkeypatch, "viewer").get("/overview")  # the simple auth manager: OP reads connections
    assert page.status_code == 200
    assert "kling-packs" not in page.text and "Emulator video pack" not in page.text
    assert pipeline_run["run_id"] in page.text  # the DAG's figures and gallery are still there


def test_the_extra_link_is_stored_for_the_ui(pipeline_run: dict[str, Any]) -> None:
    run_id = pipeline_run["run_id"]
    link = xcom_value(run_id, "make_video", "_link_KlingResultLink")
    assert link == xcom_value(run_id, "make_video")["videos"][0]["url"]
    assert link.startswith("http")


def test_the_plugin_loads_from_its_entry_point_and_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        "[ep] = [e for e in entry_points(group='airflow.plugins') if e.name == 'kling']\n"
        "plugin = ep.load()\n"
        "views = {v['destination'] for v in plugin.external_views}\n"
        "print(sorted(views), 'airflow_provider_kling.plugins.app' in sys.modules,"
        " 'airflow_provider_kling.hooks.kling' in sys.modules)\n"
        "print([a['url_prefix'] for a in plugin.fastapi_apps])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    printed = [line for line in out.stdout.splitlines() if line.startswith("[")]  # not Airflow's log lines
    assert printed == ["['nav', 'task_instance'] False False", "['/kling']"]
