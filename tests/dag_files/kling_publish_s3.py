"""DAG for tests/publishing/test_publish_s3.py: video-to-audio, then publish (with a mux) to an S3 bucket.

A rerun passes the first run's result as ``conf["result"]`` (and marks ``video_to_audio`` done):
publishing the same Kling result again, as clearing the publish task would.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_kling.operators.publish import KlingPublishOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

# The test points the `kling_s3` aws connection at a loopback S3 API and creates the bucket.
S3_CONN_ID = "kling_s3"
S3_DESTINATION = "s3://bucket/kling/"


@dag(
    dag_id="kling_publish_s3",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
)
def kling_publish_s3() -> None:
    audio = VideoToAudioOperator(
        task_id="video_to_audio",
        video_id="825406034503692376",  # the emulator's sample video
        sound_effect_prompt="Rain on a tin roof",
        poll_interval=0.2,
        deferrable=False,
        retries=0,
    )
    publish = KlingPublishOperator(
        task_id="publish",
        result="{{ dag_run.conf.get('result') or ti.xcom_pull('video_to_audio') }}",
        destination=S3_DESTINATION,
        destination_conn_id=S3_CONN_ID,
        mux=True,
        retries=0,
    )
    audio >> publish


kling_publish_s3()
