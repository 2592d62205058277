"""A submit deferred for capacity with a multi-MB request body, in a real Airflow.

A real scheduler, dag-processor, triggerer and LocalExecutor workers (``tests/ui/stack.py``) run
``kling_big_request`` (``tests/dag_files``) against ``kling-emulator --max-concurrent-tasks 1``:
``occupy`` fills the account, so the image2video submit with a 3 MB Base64 image meets 1303 and
defers to ``KlingSubmitTrigger``. Its kwargs hold no payload: the triggerer reads the request
from XCom through the task SDK, submits once the slot frees up and waits; the resumed task then
deletes that XCom (megabytes in the metadata DB). Marked ``airflow_stack``: its own ``.ci/run`` step.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse

import pytest

from airflow_provider_kling.execution.idempotency import derive_external_task_id
from airflow_provider_kling.triggers.submit import REQUEST_XCOM_KEY
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from tests.triggers.test_big_request import IMAGE
from tests.ui.stack import REPO, running_stack

pytestmark = pytest.mark.airflow_stack

DAG_ID = "kling_big_request"


def test_a_multi_megabyte_request_waits_for_capacity_on_the_triggerer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_stack(
        dags_folder=REPO / "tests" / "dag_files",
        # The occupier runs long enough for the next task to be scheduled and refused.
        emulator_args=(
            *("--max-concurrent-tasks", "1"),
            *("--submitted-seconds", "1", "--processing-seconds", "12"),
        ),
        extra_env={"AIRFLOW__KLING__POLL_INTERVAL": "0.5"},
    ) as stack:
        run_id = stack.trigger(DAG_ID, {"image": IMAGE})
        state = stack.wait_for_run(DAG_ID, run_id, 400)
        tis = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in stack.task_instances(DAG_ID, run_id)}
        stats = stack.emulator("stats")
        # The request went the XCom way (the operator pushed it before deferring, the trigger read
        # it), and the resumed task deleted it: the log says so, the REST API no longer finds it.
        quoted = urllib.parse.quote(run_id, safe="")
        ti_path = f"dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/image_to_video"
        content = stack.api(f"{ti_path}/logs/1")["content"]
        log = "\n".join(json.dumps(line) if not isinstance(line, str) else line for line in content)
        with pytest.raises(urllib.error.HTTPError) as gone:
            stack.api(f"{ti_path}/xcomEntries/{REQUEST_XCOM_KEY}")
        return_value = stack.api(f"{ti_path}/xcomEntries/return_value")
        conn = {"conn_type": "kling", "host": stack.emulator_url, "login": DEFAULT_ACCESS_KEY}
        monkeypatch.setenv("AIRFLOW_CONN_KLING_STACK", json.dumps({**conn, "password": DEFAULT_SECRET_KEY}))
        from airflow_provider_kling.hooks.kling import KlingHook

        ident = derive_external_task_id(DAG_ID, run_id, "image_to_video", -1)
        task = KlingHook("kling_stack").get_task("image2video", ident).to_xcom()
    assert state == "success", tis
    assert tis == {"occupy": ("success", 1), "image_to_video": ("success", 1)}  # no Airflow retry used
    assert int(stats["limit_refusals"].get("1303", 0)) >= 1  # the submit really met the limit
    assert stats["submits"] == 2 and stats["distinct_external_ids"] == 2  # nothing paid twice
    assert f"Deleted the request body from XCom '{REQUEST_XCOM_KEY}'" in log, log[-3000:]
    assert gone.value.code == 404
    assert return_value["key"] == "return_value"  # the task's own result stays
    assert task["status"] == "succeed" and task["videos"]
