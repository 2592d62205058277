"""
### Kling 3.0 Turbo daily clip: one short video a day, with its own sound, published as is

1. **make_clip** — Kling text-to-video with `kling-3.0-turbo` (Kling's new API design:
   `POST /text-to-video/kling-3.0-turbo`), the cheapest model per second. Its videos come with
   native sound, so no video-to-audio step and no muxing is needed.
2. **publish** — copies the MP4 to `destination` before Kling deletes it (30 days) and updates
   the `kling_published` asset (see `kling_omni_edit`, which edits or extends a published clip).

Paused when first loaded: unpause it to start the daily runs. The wait runs on the triggerer
(`deferrable=True`). The new design accepts an **API key only**: the `kling_default`
connection needs its API key set, not an access key + secret key. Against
the local emulator (`kling-emulator`) it runs end to end without a Kling account.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.video import TextToVideoOperator

PUBLISHED = Asset("kling_published")
# Budget floor: no new spend (and no retries) when fewer units remain in the resource packs.
MIN_REMAINING_UNITS = 20


@dag(
    dag_id="kling_turbo_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # A paid job every day: it starts only once you unpause it, whatever the Airflow default.
    is_paused_upon_creation=True,
    doc_md=__doc__,
    tags=["kling", "example", "kling-3.0-turbo"],
    params={
        "prompt": Param(
            "Morning light over a quiet harbour, boats rocking, gulls calling",
            type="string",
            minLength=1,
            maxLength=3072,
            title="Clip prompt",
        ),
        "duration": Param(5, type="integer", minimum=3, maximum=15, title="Length (seconds)"),
        "resolution": Param("720p", type="string", enum=["720p", "1080p"], title="Resolution"),
        "aspect_ratio": Param("9:16", type="string", enum=["16:9", "9:16", "1:1"], title="Aspect ratio"),
        "destination": Param(
            default_destination(),
            type="string",
            minLength=1,
            title="Destination",
            description="Folder for the files: a local path, file://…, or s3://, gs://… (backend installed)",
        ),
    },
)
def kling_turbo_daily() -> None:
    clip = TextToVideoOperator(
        task_id="make_clip",
        model_name="kling-3.0-turbo",  # new design: the provider picks /text-to-video/{model}
        prompt="{{ params.prompt }} (clip of {{ ds }})",
        duration="{{ params.duration }}",  # sent as an int
        resolution="{{ params.resolution }}",
        aspect_ratio="{{ params.aspect_ratio }}",
        deferrable=True,
        min_remaining_units=MIN_REMAINING_UNITS,
        timeout=1800,
    )
    KlingPublishOperator(
        task_id="publish",
        result=clip.output,  # the video as Kling made it: it already has its sound
        destination="{{ params.destination }}",
        outlets=[PUBLISHED],
        retries=2,
        retry_delay=timedelta(seconds=30),
    )


kling_turbo_daily()
