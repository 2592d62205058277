"""DAG for tests/dags/test_lip_sync_dag.py: lip-sync in a real task run, with an Airflow retry."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.operators.speech import LipSyncOperator

SAMPLE_VIDEO = "825406034503692376"  # a 5.1 s video the emulator knows, one face throughout


@dag(dag_id="kling_lip_sync_retry", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def kling_lip_sync_retry() -> None:
    """The sample video says a sound file; a failed Kling task is retried once by Airflow."""
    LipSyncOperator(
        task_id="lip_sync",
        video_id=SAMPLE_VIDEO,
        sound_file="{{ params.sound_file }}",
        sound_end_time=3000,
        params={"sound_file": ""},
        deferrable=False,
        poll_interval=0.2,
        timeout=60,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


kling_lip_sync_retry()
