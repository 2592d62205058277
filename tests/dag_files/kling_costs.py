"""DAGs for tests/operators/test_costs.py: the budget floor and packs cache across mapped tasks, 1102."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
SAMPLE_VIDEO = "825406034503692376"
MAPPED_PROMPTS = [f"Rain, take {n}" for n in range(8)]


@dag(dag_id="kling_costs_mapped", schedule=None, start_date=START, catchup=False)
def kling_costs_mapped() -> None:
    """Eight mapped tasks, each checking the floor before it submits."""
    VideoToAudioOperator.partial(
        task_id="video_to_audio",
        video_id=SAMPLE_VIDEO,
        min_remaining_units=5,
        poll_interval=0.2,
        timeout=60,
        retries=3,
        retry_delay=timedelta(seconds=1),
    ).expand(sound_effect_prompt=MAPPED_PROMPTS)


@dag(dag_id="kling_costs_no_floor", schedule=None, start_date=START, catchup=False)
def kling_costs_no_floor() -> None:
    """No floor: a used-up account answers the submit itself (1102)."""
    VideoToAudioOperator(
        task_id="video_to_audio",
        video_id=SAMPLE_VIDEO,
        poll_interval=0.2,
        timeout=60,
        retries=3,
        retry_delay=timedelta(seconds=1),
    )


kling_costs_mapped()
kling_costs_no_floor()
