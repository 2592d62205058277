"""
### Kling video effects: two generated portraits in a dual-image effect scene

1. **portraits** — Kling omni image (`POST /v1/images/omni-image`, `kling-image-o1`), two
   images of one person from one prompt (`result_type="single"`, `n=2`);
2. **effect** — Kling video effects (`POST /v1/videos/effects`): a dual-image scene such as
   `hug_pro` places the first image left and the second right; a single-image scene takes
   `image=` instead. Kling adds and retires scenes often, so the name is passed through as given;
3. **publish** — copies the clip to `destination` before Kling deletes it (30 days).

Both Kling waits run on the triggerer (`deferrable=True`). An image task with `n` images holds
`n` of the account's parallel-task slots while it runs.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_kling.operators.effects import VideoEffectsOperator
from airflow_provider_kling.operators.image import OmniImageOperator
from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination

IMAGE = "{{{{ ti.xcom_pull(task_ids='portraits')['images'][{index}]['url'] }}}}"


@dag(
    dag_id="kling_video_effects",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example", "effects"],
    params={
        "prompt": Param(
            "Studio portrait of a smiling person, soft light, plain background",
            type="string",
            minLength=1,
            maxLength=2500,
            title="Portrait prompt",
        ),
        "effect_scene": Param("hug_pro", type="string", minLength=1, title="Dual-image effect scene"),
        "destination": Param(default_destination(), type="string", minLength=1, title="Destination"),
    },
)
def kling_video_effects() -> None:
    # [START howto_operator_kling_omni_image]
    portraits = OmniImageOperator(
        task_id="portraits",
        model_name="kling-image-o1",
        prompt="{{ params.prompt }}",
        result_type="single",
        n=2,
        aspect_ratio="1:1",
        deferrable=True,
        timeout=1800,
    )
    # [END howto_operator_kling_omni_image]
    # [START howto_operator_kling_video_effects]
    effect = VideoEffectsOperator(
        task_id="effect",
        effect_scene="{{ params.effect_scene }}",
        images=[IMAGE.format(index=0), IMAGE.format(index=1)],
        deferrable=True,
        timeout=1800,
    )
    # [END howto_operator_kling_video_effects]
    portraits >> effect
    KlingPublishOperator(task_id="publish", result=effect.output, destination="{{ params.destination }}")


kling_video_effects()
