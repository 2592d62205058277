"""
### Kling content pipeline: video → audio for that video → published MP4

1. **make_video** — Kling text-to-video from your prompt.
2. **make_audio** — Kling video-to-audio for that video (sound effects + background music).
3. **publish** — copies the video, the MP3/WAV audio and a muxed MP4 (video + generated
   sound track) to `destination` before Kling deletes them (30 days), and updates the
   `kling_published` asset so other DAGs can be scheduled on new content.

Trigger it from the UI with your own prompts. Waits run on the triggerer (`deferrable=True`):
no worker slot is held while Kling works. Against the local emulator (`kling-emulator`) it runs
end to end without a Kling account; `[kling] poll_interval`
(`AIRFLOW__KLING__POLL_INTERVAL`, default 10 s) sets how often Kling is asked for the status.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.video import TextToVideoOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

PUBLISHED = Asset("kling_published")
# Budget floor: fail (without retries, before submitting) when fewer units remain in the packs.
MIN_REMAINING_UNITS = 20


@dag(
    dag_id="kling_content_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example"],
    params={
        "prompt": Param(
            "A lighthouse on a rocky coast at dawn, waves breaking, gulls circling",
            type="string",
            minLength=1,
            maxLength=2500,
            title="Video prompt",
        ),
        "duration": Param("5", type="string", enum=["5", "10"], title="Video length (seconds)"),
        "sound_effect_prompt": Param(
            "Waves on rocks, gulls, wind", type="string", maxLength=200, title="Sound effects"
        ),
        "bgm_prompt": Param("Slow ambient synth pad", type="string", maxLength=200, title="Background music"),
        "asmr_mode": Param(False, type="boolean", title="ASMR mode"),
        "destination": Param(
            default_destination(),
            type="string",
            minLength=1,
            title="Destination",
            description="Folder for the files: a local path, file://…, or s3://, gs://… (backend installed)",
        ),
    },
)
def kling_content_pipeline() -> None:
    # [START howto_operator_kling_text_to_video]
    video = TextToVideoOperator(
        task_id="make_video",
        prompt="{{ params.prompt }}",
        duration="{{ params.duration }}",
        min_remaining_units=MIN_REMAINING_UNITS,  # no new spend when the packs run low
        timeout=1800,
        deferrable=True,  # wait on the triggerer (KlingTaskTrigger), not in a worker slot
    )
    # [END howto_operator_kling_text_to_video]
    # [START howto_trigger_kling_task]
    audio = VideoToAudioOperator(
        task_id="make_audio",
        video_id="{{ ti.xcom_pull('make_video')['videos'][0]['id'] }}",
        sound_effect_prompt="{{ params.sound_effect_prompt }}",
        bgm_prompt="{{ params.bgm_prompt }}",
        asmr_mode="{{ params.asmr_mode }}",
        timeout=1800,
        deferrable=True,
    )
    # [END howto_trigger_kling_task]
    # [START howto_operator_kling_publish]
    publish = KlingPublishOperator(
        task_id="publish",
        result=audio.output,
        source_video=video.output,
        mux=True,
        destination="{{ params.destination }}",
        outlets=[PUBLISHED],
        retries=2,
        retry_delay=timedelta(seconds=30),
    )
    # [END howto_operator_kling_publish]
    video >> audio >> publish


kling_content_pipeline()
