"""DAG files import operator modules at every parse: what they load is checked, not timed here.

(The milliseconds are measured by benchmarks/import_cost.py.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

DEFERRED = (
    "aiohttp",
    "jwt",
    "tenacity",
    "requests",
    "av",
    "numpy",
    "airflow_provider_kling.api.requests",
    "airflow_provider_kling.api.audio",
    "airflow_provider_kling.api.tasks",
    "airflow_provider_kling.api.video",
    "airflow_provider_kling.api.speech",
    "airflow_provider_kling.hooks.speech",
    "airflow_provider_kling.execution.face_sessions",
    "airflow_provider_kling.api.new_video",
    "airflow_provider_kling.api.new_video_items",
    "airflow_provider_kling.hooks.kling",
    "airflow_provider_kling.execution.polling",
    "airflow.triggers.base",
    # the UI plugin: the api-server loads it, never a DAG file
    "airflow_provider_kling.plugins.ui",
    "airflow_provider_kling.plugins.app",
)


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_kling.operators.video_to_audio",
        "airflow_provider_kling.operators.video",
        "airflow_provider_kling.operators.new_video",
        "airflow_provider_kling.operators.text_to_audio",
        "airflow_provider_kling.operators.speech",
        "airflow_provider_kling.sensors.kling",
    ],
)
def test_module_defers_heavy_imports_to_run_time(module: str) -> None:
    code = (
        "import sys, airflow.sdk\n"
        "from airflow.sdk import BaseOperator\n"
        f"already = {{m for m in {DEFERRED!r} if m in sys.modules}}\n"
        f"import {module}\n"
        f"print(sorted(m for m in {DEFERRED!r} if m in sys.modules and m not in already))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
