"""DAGs for tests/execution/test_retry_semantics.py: which Kling errors use up an Airflow task's retries.

Each task has ``retries=3`` and a short ``retry_delay``. The tests (``dag.test()`` and a real
Airflow stack) read the try numbers Airflow recorded and the tasks the emulator created.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
RETRY_DELAY = timedelta(seconds=1)
# A connection whose extra shortens the hook's own retries (max_retries 1, waits of 0.1 s), so
# a few scripted 5xx answers get past them to Airflow's retries.
FLAKY_CONN_ID = "kling_flaky"


@dag(dag_id="kling_refused_request", schedule=None, start_date=START, catchup=False)
def kling_refused_request() -> None:
    """A video id Kling does not know: 1201, which no retry can fix."""
    VideoToAudioOperator(
        task_id="refused",
        video_id="{{ dag_run.conf.get('video_id', 'no-such-video') }}",
        sound_effect_prompt="Rain",
        timeout=120,
        retries=3,
        retry_delay=RETRY_DELAY,
    )


@dag(dag_id="kling_server_errors", schedule=None, start_date=START, catchup=False)
def kling_server_errors() -> None:
    """Kling answers 5xx more often than the hook retries: Airflow retries, one Kling task in all."""
    VideoToAudioOperator(
        task_id="flaky",
        video_id="825406034503692376",  # the emulator's sample video
        # "[fail]" makes the emulator's task end failed: a retry resubmits under "<id>-2".
        sound_effect_prompt="{{ dag_run.conf.get('prompt', 'Rain') }}",
        kling_conn_id=FLAKY_CONN_ID,
        timeout=120,
        retries=3,
        retry_delay=RETRY_DELAY,
    )


kling_refused_request()
kling_server_errors()
