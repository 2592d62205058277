"""
### Kling motion control: a character from a picture, moving as in a reference video

1. **motion** — Kling `kling-3.0` motion control (`POST /motion-control/kling-3.0`, new API
   design): the character in `image` performs the motion of `motion_video`; the clip is as
   long as the usable motion (no `duration`), its sound is the reference video's (`original`).
2. **publish** — copies the result to `destination` before Kling deletes it (30 days).

`image` is a URL (or raw Base64) of a jpg/png of at least 300 px; `motion_video` an mp4/mov URL
Kling can fetch (3-10 s when the character keeps the picture's orientation). The wait runs on
the triggerer (`deferrable=True`); the connection needs an API key.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.video import MotionControlOperator


@dag(
    dag_id="kling_motion_control",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example", "kling-3.0"],
    params={
        "image": Param(
            "https://example.com/characters/presenter.png",
            type="string",
            minLength=1,
            title="Character image (URL or Base64)",
        ),
        "motion_video": Param(
            "https://example.com/motion/dance.mp4",
            type="string",
            pattern="^https?://",
            title="Reference motion video (mp4/mov URL)",
        ),
        "destination": Param(default_destination(), type="string", minLength=1, title="Destination"),
    },
)
def kling_motion_control() -> None:
    # [START howto_operator_kling_motion_control]
    motion = MotionControlOperator(
        task_id="motion",
        model_name="kling-3.0",
        image="{{ params.image }}",
        video="{{ params.motion_video }}",
        character_orientation="image",
        prompt="Keep the background of the picture",
        audio="original",
        resolution="1080p",
        deferrable=True,
        timeout=1800,
    )
    # [END howto_operator_kling_motion_control]
    KlingPublishOperator(task_id="publish", result=motion.output, destination="{{ params.destination }}")


kling_motion_control()
