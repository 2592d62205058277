"""
### Kling prompt fan-out: one video + sound track per prompt, in parallel

Dynamic task mapping over the `prompts` list: one Kling text-to-video task per prompt, then
video-to-audio for each video, then each result is published (video, MP3, WAV and the muxed
MP4) to `destination`. Add or remove prompts in the trigger form (1 to 50); the number of
mapped tasks follows. Deferrable waits (`[operators] default_deferrable`) let every prompt wait
on the triggerer instead of holding a worker slot each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.configuration import conf

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.video import TextToVideoOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

POLL_INTERVAL = conf.getfloat("kling", "poll_interval", fallback=5.0)
PUBLISHED = Asset("kling_published")


def first_video_id(result: dict[str, Any]) -> str:
    return str(result["videos"][0]["id"])


@dag(
    dag_id="kling_prompt_fanout",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example"],
    params={
        "prompts": Param(
            [
                "A paper boat drifting down a rainy street",
                "A hummingbird at a red flower, slow motion",
                "Neon city skyline at night, light rain",
            ],
            type="array",
            items={"type": "string", "minLength": 1, "maxLength": 2500},
            minItems=1,
            maxItems=50,
            title="Video prompts",
            description="One Kling video (and sound track) per prompt",
        ),
        "sound_effect_prompt": Param(
            "Ambient sounds that match the scene", type="string", maxLength=200, title="Sound effects"
        ),
        "bgm_prompt": Param("", type="string", maxLength=200, title="Background music (optional)"),
        "destination": Param(default_destination(), type="string", minLength=1, title="Destination"),
    },
)
def kling_prompt_fanout() -> None:
    @task
    def prompts(params: dict[str, Any]) -> list[str]:
        return [str(p) for p in params["prompts"]]

    videos = TextToVideoOperator.partial(
        task_id="make_video", duration="5", poll_interval=POLL_INTERVAL, timeout=1800
    ).expand(prompt=prompts())
    audios = VideoToAudioOperator.partial(
        task_id="make_audio",
        sound_effect_prompt="{{ params.sound_effect_prompt }}",
        bgm_prompt="{{ params.bgm_prompt }}",
        poll_interval=POLL_INTERVAL,
        timeout=1800,
    ).expand(video_id=videos.output.map(first_video_id))
    # Kling's video-to-audio result carries its source video: mux=True puts the two together.
    KlingPublishOperator.partial(
        task_id="publish",
        mux=True,
        destination="{{ params.destination }}",
        outlets=[PUBLISHED],
        retries=2,
        retry_delay=timedelta(seconds=30),
    ).expand(result=audios.output)


kling_prompt_fanout()
