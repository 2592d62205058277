"""DAG for tests/real_airflow/test_sensor_reschedule.py: a KlingTaskSensor in reschedule mode.

Every poke is a new process; the test makes Kling answer every status check with a 5xx and
counts the pokes until the sensor fails (5 failed checks in a row, as in poke mode).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.sensors.kling import KlingTaskSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
# A connection whose extra sends each status check once (max_retries 0): one request per poke.
ONE_TRY_CONN_ID = "kling_one_try"


@dag(dag_id="kling_sensor_reschedule", schedule=None, start_date=START, catchup=False)
def kling_sensor_reschedule() -> None:
    """Wait for a Kling task in reschedule mode: the worker slot is free between pokes."""
    # [START howto_sensor_kling_task]
    KlingTaskSensor(
        task_id="wait",
        kling_task_id="{{ dag_run.conf.get('kling_task_id', 'kling-task-under-faults') }}",
        kling_conn_id=ONE_TRY_CONN_ID,
        mode="reschedule",
        deferrable=False,
        # Not shorter: a scheduler race (apache/airflow#71172) fails a sensor whose next poke is queued
        # before the executor's event for the last one arrived (that event lags a few seconds here).
        poke_interval=10,
        timeout=300,
        retries=0,
    )
    # [END howto_sensor_kling_task]


kling_sensor_reschedule()
