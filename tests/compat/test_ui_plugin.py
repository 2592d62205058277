"""The UI plugin on every Airflow of the matrix: it loads, and Airflow's app serves its routes behind auth."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kling_emulator.server import EmulatorServer

pytestmark = pytest.mark.compat


def test_the_plugin_loads_with_its_views() -> None:
    code = """
        import json
        from airflow import plugins_manager
        [info] = [p for p in plugins_manager.get_plugin_info() if p["name"] == "kling"]
        views = sorted(v["destination"] for v in info.get("external_views", []))
        print(json.dumps([views, [a["url_prefix"] for a in info["fastapi_apps"]]]))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == '[["nav", "task_instance"], ["/kling"]]'


@pytest.fixture
def airflow_api(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Airflow's own API app (core), plugins mounted as the api-server mounts them."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "a-compat-signing-key-for-the-kling-ui-plugin-" * 2)
    return TestClient(create_app(apps="core"))


def admin_token() -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin")))


def test_the_routes_refuse_anonymous_and_answer_an_admin(
    airflow_api: Any, kling_conn: EmulatorServer
) -> None:
    tab = "/kling/ti/no_such_dag/no_such_run/no_such_task?map_index={MAP_INDEX}"
    for path in ("/kling/overview", tab, "/kling/media/no_such_dag/r/t/0"):
        assert airflow_api.get(path).status_code in (401, 403), path
    headers = {"Authorization": f"Bearer {admin_token()}"}
    page = airflow_api.get("/kling/overview", headers=headers)
    assert page.status_code == 200
    assert "Emulator video pack" in page.text and "12 hours" in page.text
    missing = airflow_api.get(tab, headers=headers)
    assert missing.status_code == 404 and "No such task instance" in missing.text
