"""
### Kling image to clip: key images, one animated clip with sound per image

1. **make_images** — Kling image generation (`kling-v3`): `n` key images (2 by default) from
   your prompt, in the clip's aspect ratio. The task holds `n` of the account's parallel-task
   slots while it runs (a full account makes it wait in line for `n`, not fail).
2. **clip** (mapped, one per image) — image-to-video with the image as the first frame, then
   video-to-audio (sound effects for that clip: Kling answers with the clip carrying the new
   sound, `<video_id>.mp4`, and the sound alone), then publish both. A failed image fails only
   its own chain.
3. **publish_images** — copies the key images (`<task_id>-<index>.png`) before Kling deletes them.

Every Kling step is deferrable: the waits run on the triggerer, not in a worker slot. Against the
local emulator (`kling-emulator`) it runs end to end without a Kling account.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task, task_group

from airflow_provider_kling.operators.image import ImageGenerationOperator
from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.video import ImageToVideoOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

WAIT_LIMIT = 2 * 3600  # per Kling task: the wait in line for free slots plus the generation
# The clip of *this* chain: the same map index of the group's animate task.
THIS_CHAINS_VIDEO_ID = (
    "{{ ti.xcom_pull(task_ids='clip.animate', map_indexes=ti.map_index)['videos'][0]['id'] }}"
)


@dag(
    dag_id="kling_image_to_clip",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example"],
    params={
        "prompt": Param(
            "A lighthouse on a cliff at golden hour, cinematic", type="string", minLength=1, maxLength=2500
        ),
        "images": Param(2, type="integer", minimum=1, maximum=9, title="Key images (n)"),
        "aspect_ratio": Param("16:9", type="string", enum=["16:9", "9:16", "1:1"], title="Aspect ratio"),
        "motion_prompt": Param(
            "Slow push-in, waves rolling below", type="string", maxLength=2500, title="Motion prompt"
        ),
        "video_model": Param("kling-v2-6", type="string", title="Video model"),
        "sound_effect_prompt": Param(
            "Sea waves and wind", type="string", maxLength=200, title="Sound effects"
        ),
        "destination": Param(default_destination(), type="string", minLength=1, title="Destination"),
    },
)
def kling_image_to_clip() -> None:
    # [START howto_operator_kling_image_generation]
    images = ImageGenerationOperator(
        task_id="make_images",
        prompt="{{ params.prompt }}",
        n="{{ params.images }}",
        aspect_ratio="{{ params.aspect_ratio }}",
        deferrable=True,
        timeout=WAIT_LIMIT,
    )
    # [END howto_operator_kling_image_generation]

    @task_group(group_id="clip")
    def clip(image_url: str) -> None:
        # [START howto_operator_kling_image_to_video]
        animate = ImageToVideoOperator(
            task_id="animate",
            image=image_url,
            prompt="{{ params.motion_prompt }}",
            model_name="{{ params.video_model }}",
            duration="5",
            deferrable=True,
            timeout=WAIT_LIMIT,
        )
        # [END howto_operator_kling_image_to_video]
        sound = VideoToAudioOperator(
            task_id="sound",
            video_id=THIS_CHAINS_VIDEO_ID,
            sound_effect_prompt="{{ params.sound_effect_prompt }}",
            deferrable=True,
            timeout=WAIT_LIMIT,
        )
        # The video-to-audio result's video is the clip with its new sound: published as is.
        publish = KlingPublishOperator(
            task_id="publish", result=sound.output, destination="{{ params.destination }}"
        )
        animate >> sound >> publish

    @task
    def image_urls(result: dict[str, Any]) -> list[str]:
        """The key images' URLs: one clip chain each (a single one feeds image= as a template:
        ``"{{ ti.xcom_pull('make_images')['images'][0]['url'] }}"``)."""
        return [image["url"] for image in result["images"]]

    clip.expand(image_url=image_urls(images.output))
    KlingPublishOperator(
        task_id="publish_images", result=images.output, destination="{{ params.destination }}"
    )


kling_image_to_clip()
