"""
### Kling prompt fan-out: one video + sound track per prompt, in parallel

A mapped task group over the `prompts` list: one chain per prompt, text-to-video → video-to-audio
→ publish (video, MP3, WAV and the muxed MP4) to `destination`. Prompt *i*'s audio starts as soon
as prompt *i*'s video is ready, and a failed prompt fails only its own chain. Add or remove
prompts in the trigger form (1 to 50); the number of chains follows.

More prompts than the Kling account's parallel-task limit is fine: a submit that Kling refuses
with 1303 waits in line for a free slot (on the triggerer, without a worker slot and without
using a retry), so the run takes as long as the account allows and pays once per prompt. The
operators pass `deferrable=True`: every prompt waits on the triggerer instead of holding a
worker slot each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task, task_group

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.video import TextToVideoOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

PUBLISHED = Asset("kling_published")
# Per Kling task: the wait in line for a free parallel-task slot plus the generation. 50 prompts on
# an account with 3 parallel tasks and 5-minute videos queue for almost 3 h.
WAIT_LIMIT = 4 * 3600


# The video of *this* chain: the same map index of the group's make_video.
THIS_CHAINS_VIDEO_ID = (
    "{{ ti.xcom_pull(task_ids='prompt.make_video', map_indexes=ti.map_index)['videos'][0]['id'] }}"
)


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

    @task_group(group_id="prompt")
    def chain(prompt: str) -> None:
        # [START howto_trigger_kling_submit]
        video = TextToVideoOperator(
            task_id="make_video", prompt=prompt, duration="5", timeout=WAIT_LIMIT, deferrable=True
        )
        # [END howto_trigger_kling_submit]
        audio = VideoToAudioOperator(
            task_id="make_audio",
            video_id=THIS_CHAINS_VIDEO_ID,
            sound_effect_prompt="{{ params.sound_effect_prompt }}",
            bgm_prompt="{{ params.bgm_prompt }}",
            timeout=WAIT_LIMIT,
            deferrable=True,
        )
        # Kling's video-to-audio result carries its source video: mux=True puts the two together.
        publish = KlingPublishOperator(
            task_id="publish",
            result=audio.output,
            mux=True,
            destination="{{ params.destination }}",
            outlets=[PUBLISHED],
            retries=2,
            retry_delay=timedelta(seconds=30),
        )
        video >> audio >> publish

    chain.expand(prompt=prompts())


kling_prompt_fanout()
