"""DAG for tests with a multi-MB request body (Base64 image from conf) that waits for a free slot."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.operators.video import ImageToVideoOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

SAMPLE_VIDEO = "825406034503692376"  # a video id the emulator knows


@dag(dag_id="kling_big_request", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def kling_big_request() -> None:
    """``occupy`` fills an account whose limit is 1; the image2video submit then waits on the triggerer.

    Its request (``conf['image']``, megabytes of Base64) is too big for the trigger's kwargs: the
    operator leaves it in XCom and the triggerer reads it from there.
    """
    occupy = VideoToAudioOperator(
        task_id="occupy", video_id=SAMPLE_VIDEO, wait_for_completion=False, retries=0
    )
    image_to_video = ImageToVideoOperator(
        task_id="image_to_video",
        image="{{ dag_run.conf['image'] }}",
        model_name="kling-v3",
        deferrable=True,
        poll_interval=0.5,
        timeout=300,
        retries=0,
    )
    occupy >> image_to_video


kling_big_request()
