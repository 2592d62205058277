"""What must hold on every Airflow and Python version the provider declares (scripts/compat.sh).

Each test runs in one venv of the matrix; the shared suites for the request models, the hook and
the provider info run there too (scripts/compat.sh lists them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_kling import __version__
from airflow_provider_kling.get_provider_info import get_provider_info
from airflow_provider_kling.hooks.kling import KlingHook
from kling_emulator.server import EmulatorServer
from tests.compat.conftest import load_dag
from tests.conftest import conn_json

pytestmark = pytest.mark.compat

DIST = "airflow-provider-kling"
TRIGGER_CLASSPATH = "airflow_provider_kling.triggers.kling.KlingTaskTrigger"


def test_this_venv_is_the_matrix_cell_it_claims_to_be() -> None:
    """scripts/compat.sh names the cell; a venv that resolved another Airflow or Python fails here."""
    airflow_version = os.environ.get("KLING_COMPAT_AIRFLOW")
    python_version = os.environ.get("KLING_COMPAT_PYTHON")
    if not (airflow_version and python_version):
        pytest.skip("run by scripts/compat.sh, which names the Airflow and Python versions")
    assert airflow.__version__ == airflow_version
    assert "{}.{}".format(*sys.version_info[:2]) == python_version


def airflow_answers(code: str) -> Any:
    """Run ``code`` in a fresh interpreter and return the JSON it prints.

    The providers manager is a process-wide singleton that imports each hook once: a fresh
    process sees what a fresh API server or CLI sees, whatever other tests imported before.
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
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_providers_manager_discovers_the_provider() -> None:
    found = airflow_answers(
        f"""
        import json
        from airflow.providers_manager import ProvidersManager
        provider = ProvidersManager().providers[{DIST!r}]
        hook = ProvidersManager().hooks["kling"]
        print(json.dumps([provider.version, provider.data, hook and hook.hook_class_name]))
        """
    )
    version, data, hook_class_name = found
    assert version == __version__
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(data, schema)
    assert hook_class_name == "airflow_provider_kling.hooks.kling.KlingHook"


def test_the_connection_form_has_the_kling_labels() -> None:
    """What GET /ui/connections/hook_meta serves: 3.1 builds it from KlingHook.get_ui_field_behaviour(),
    3.2+ from the provider info."""
    meta = airflow_answers(
        """
        import json
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
        (kling,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "kling"]
        print(kling.model_dump_json())
        """
    )
    assert meta["hook_name"] == "Kling AI"
    fields = meta["standard_fields"]
    (conn_type,) = get_provider_info()["connection-types"]
    behaviour = conn_type["ui-field-behaviour"]
    assert fields["url_schema"]["hidden"] is True
    assert set(behaviour["relabeling"]) == {"host", "login", "password"}
    for name, title in behaviour["relabeling"].items():
        expected = {"hidden": False, "title": title, "placeholder": behaviour["placeholders"][name]}
        assert fields[name] == expected
    assert fields["port"]["hidden"] is False


def test_the_hook_form_method_is_valid_where_airflow_reads_it() -> None:
    """Airflow 3.1 validates the method's dict with this schema and drops the form if it fails."""
    assert "get_ui_field_behaviour" in KlingHook.__dict__  # 3.1 ignores an inherited one
    path = Path(airflow.__file__).parent / "customized_form_field_behaviours.schema.json"
    jsonschema.validate(KlingHook.get_ui_field_behaviour(), json.loads(path.read_text()))


def test_test_connection_against_the_emulator(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url))
    ok, message = KlingHook().test_connection()
    assert (ok, message) == (True, f"Connected to Kling at {emulator.url} (jwt auth)")

    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url, password="not-the-secret"))
    ok, message = KlingHook().test_connection()
    assert not ok
    assert "not-the-secret" not in message


def trigger_of(dag_id: str) -> str | None:
    """The classpath of the trigger Airflow recorded for the DAG's task (None: it never deferred)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        (ti,) = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)).all()
        if ti.trigger_id is None:
            return None
        trigger = session.get(Trigger, ti.trigger_id)
        assert trigger is not None
        return trigger.classpath


@pytest.mark.parametrize(
    ("dag_id", "expected_trigger"),
    [("kling_compat_blocking", None), ("kling_compat_deferrable", TRIGGER_CLASSPATH)],
    ids=["blocking-never-defers", "deferrable-defers"],
)
def test_dag_run_against_the_emulator(
    compat_dags: Path, kling_conn: EmulatorServer, dag_id: str, expected_trigger: str | None
) -> None:
    run = load_dag(compat_dags, dag_id).test()
    assert run.state == "success"
    [task] = kling_conn.emulator.store.tasks.values()
    assert task.request["sound_effect_prompt"] == "Rain on a tin roof"
    assert trigger_of(dag_id) == expected_trigger


def test_the_declared_dependency_floors_are_what_is_installed() -> None:
    """In the lowest-direct cell, every direct dependency must sit at the floor pyproject.toml declares.

    A floor below what Airflow itself requires would be installed higher and so never tested:
    this names it, and the floor is raised to the version that is tested.
    """
    if os.environ.get("KLING_COMPAT_RESOLUTION") != "lowest-direct":
        pytest.skip("only the lowest-direct cell of scripts/compat.sh installs the floors")
    from importlib.metadata import requires, version

    from packaging.requirements import Requirement
    from packaging.version import Version

    untested = {}
    for line in requires(DIST) or []:
        requirement = Requirement(line)
        if requirement.marker is not None or requirement.name == "apache-airflow":
            continue  # extras; Airflow itself is pinned by the cell
        floors = [s.version for s in requirement.specifier if s.operator == ">="]
        assert floors, f"{requirement} declares no floor"
        if Version(version(requirement.name)) != Version(floors[0]):
            untested[requirement.name] = (floors[0], version(requirement.name))
    assert not untested, f"declared floor -> lowest installable version: {untested}"


def test_a_permanent_error_ends_the_task_without_retries(
    compat_dags: Path, kling_conn: EmulatorServer
) -> None:
    """Airflow 3.1 catches airflow.exceptions.AirflowFailException, 3.2+ the task SDK's: a 1102 must
    end the task on its first try on each (tests/dag_files/kling_costs.py: retries=3)."""
    from kling_emulator.state import ResourcePack

    kling_conn.config.resource_packs = [
        ResourcePack.from_dict({"total_quantity": 10, "remaining_quantity": 0})
    ]
    run = load_dag(compat_dags, "kling_costs_no_floor").test()
    assert run.state == "failed"
    ti = run.get_task_instance("video_to_audio")
    assert (ti.state, ti.try_number, ti.max_tries) == ("failed", 1, 3)
    assert kling_conn.emulator.stats.by_route["POST /v1/audio/video-to-audio"] == 1
