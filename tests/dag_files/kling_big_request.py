"""DAG for tests/execution/test_big_request.py: an image2video task whose Base64 image comes from conf."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.operators.video import ImageToVideoOperator


@dag(dag_id="kling_big_request", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def kling_big_request() -> None:
    """A multi-MB request body: a submit deferred for capacity reads it from XCom on the triggerer."""
    ImageToVideoOperator(
        task_id="image_to_video",
        image="{{ dag_run.conf['image'] }}",
        model_name="kling-v3",
        deferrable=True,
        poll_interval=0.2,
        timeout=120,
        retries=0,
    )


kling_big_request()
