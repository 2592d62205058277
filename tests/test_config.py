"""The provider's configuration: declared to Airflow, and read when an operator is built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_kling.config import DEFAULT_POLL_INTERVAL
from airflow_provider_kling.get_provider_info import get_provider_info
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from airflow_provider_kling.sensors.kling import KlingTaskSensor


def airflow_cli(home: Path, *args: str, **env: str) -> str:
    """Run the ``airflow`` CLI in a fresh AIRFLOW_HOME (no settings from this test process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    clean.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env})
    airflow = Path(sys.executable).with_name("airflow")
    out = subprocess.run(
        [str(airflow), *args], env=clean, capture_output=True, text=True, timeout=180, check=True
    )
    return out.stdout


def test_every_kling_option_is_declared_with_a_description_and_one_default() -> None:
    section = get_provider_info()["config"]["kling"]
    assert section["description"]
    options = section["options"]
    assert "poll_interval" in options
    for name, option in options.items():
        assert option["description"] and option["type"], name
        assert "default" in option, name  # None only where "unset" is the default (no budget floor)
    assert float(options["poll_interval"]["default"]) == DEFAULT_POLL_INTERVAL


def test_airflow_config_list_shows_the_kling_section(tmp_path: Path) -> None:
    listed = airflow_cli(
        tmp_path, "config", "list", "--section", "kling", "--color", "off", "-d", "--show-values"
    )
    assert "[kling]" in listed
    assert f"poll_interval = {DEFAULT_POLL_INTERVAL}" in listed
    assert "Seconds between status checks" in listed  # the description comes along
    got = airflow_cli(tmp_path, "config", "get-value", "kling", "poll_interval")
    assert float(got) == DEFAULT_POLL_INTERVAL
    got = airflow_cli(
        tmp_path, "config", "get-value", "kling", "poll_interval", AIRFLOW__KLING__POLL_INTERVAL="3"
    )
    assert float(got) == 3.0


def test_operator_reads_the_config_when_built_not_when_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module is already imported here: the settings below still reach new operators."""
    monkeypatch.delenv("AIRFLOW__KLING__POLL_INTERVAL", raising=False)
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    op = VideoToAudioOperator(task_id="a", video_id="1")
    assert (op.deferrable, op.poll_interval) == (False, DEFAULT_POLL_INTERVAL)

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "2.5")
    op = VideoToAudioOperator(task_id="b", video_id="1")
    assert (op.deferrable, op.poll_interval) == (True, 2.5)
    sensor = KlingTaskSensor(task_id="c", kling_task_id="1")
    assert (sensor.deferrable, sensor.poke_interval) == (True, 2.5)

    # Explicit arguments win over the config.
    op = VideoToAudioOperator(task_id="d", video_id="1", deferrable=False, poll_interval=7)
    assert (op.deferrable, op.poll_interval) == (False, 7)
    sensor = KlingTaskSensor(task_id="e", kling_task_id="1", deferrable=False, poke_interval=4)
    assert (sensor.deferrable, sensor.poke_interval) == (False, 4)


@pytest.mark.parametrize("raw", ["soon", "-1", "inf", "nan"])
def test_a_bad_packs_cache_age_names_the_option_and_the_rule(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    from airflow_provider_kling.config import resource_packs_cache_seconds
    from airflow_provider_kling.exceptions import KlingValidationError

    monkeypatch.setenv("AIRFLOW__KLING__RESOURCE_PACKS_CACHE_SECONDS", raw)
    with pytest.raises(
        KlingValidationError,
        match=rf"^\[kling\] resource_packs_cache_seconds: must be a number of seconds >= 0, got '{raw}'$",
    ):
        resource_packs_cache_seconds()


def test_the_packs_cache_age_reads_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_kling.config import resource_packs_cache_seconds

    monkeypatch.setenv("AIRFLOW__KLING__RESOURCE_PACKS_CACHE_SECONDS", "2.5")
    assert resource_packs_cache_seconds() == 2.5
