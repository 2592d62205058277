"""
### Kling video-to-audio

Generates sound effects and background music for a Kling video, waits for Kling to finish
on the triggerer (`deferrable=True`: no worker slot is held while Kling works), and prints the
audio URLs and the URL of the video with its new sound (Kling returns the source video with the
generated sound track as well).

Trigger it from the UI with your own prompts; `video_id` defaults to the sample video the
local emulator knows (`kling-emulator`), so the DAG runs end to end without a Kling account.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator


@dag(
    dag_id="kling_video_to_audio",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example"],
    params={
        "video_id": Param("825406034503692376", type="string", title="Kling video id"),
        "sound_effect_prompt": Param(
            "Rain on a tin roof, distant thunder", type="string", maxLength=200, title="Sound effects"
        ),
        "bgm_prompt": Param("Calm lo-fi piano", type="string", maxLength=200, title="Background music"),
        "asmr_mode": Param(False, type="boolean", title="ASMR mode"),
    },
)
def kling_video_to_audio() -> None:
    # [START howto_operator_kling_video_to_audio]
    audio = VideoToAudioOperator(
        task_id="video_to_audio",
        video_id="{{ params.video_id }}",
        sound_effect_prompt="{{ params.sound_effect_prompt }}",
        bgm_prompt="{{ params.bgm_prompt }}",
        asmr_mode="{{ params.asmr_mode }}",
        timeout=600,
        deferrable=True,  # wait on the triggerer, not in a worker slot
    )
    # [END howto_operator_kling_video_to_audio]

    @task
    def report(result: dict) -> list[str]:
        urls = [url for a in result["audios"] for url in (a["url_mp3"], a["url_wav"]) if url]
        for url in urls:
            print(f"KLING AUDIO: {url}")
        videos = [v["url"] for v in result["videos"] if v.get("url")]
        for url in videos:
            print(f"KLING VIDEO WITH SOUND: {url}")
        return urls + videos

    report(audio.output)


kling_video_to_audio()
