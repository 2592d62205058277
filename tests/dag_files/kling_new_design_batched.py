"""DAG for tests: several new-design (kling-3.0-turbo) text-to-video tasks waiting deferred at once."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.operators.video import TextToVideoOperator

WAITS = 6


@dag(dag_id="kling_new_design_batched", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def kling_new_design_batched() -> None:
    """Each task submits to ``/text-to-video/kling-3.0-turbo`` and defers; the triggerer reads all
    the waits with one batched ``GET /tasks?task_ids=...`` per round (its connection is an API key)."""
    for i in range(WAITS):
        TextToVideoOperator(
            task_id=f"clip_{i}",
            prompt=f"A paper kite over the sea, take {i}",
            model_name="kling-3.0-turbo",
            duration=5,
            deferrable=True,
            poll_interval=1.0,
            timeout=300,
            retries=0,
        )


kling_new_design_batched()
