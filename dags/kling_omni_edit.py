"""
### Kling 3.0 Omni: edit or extend a published clip

1. **omni** — Kling `kling-3.0-omni` (`POST /omni-video/kling-3.0-omni`, new API design):
   - `edit`: the clip is the **base video**: Kling changes it as the prompt says (its own
     frames, one shot, sound `original` or `off`);
   - `extend`: the clip is a **feature video** reference: Kling makes the next shot in its
     style and motion (sound `off`, as the contract requires with a feature video).
2. **publish** — copies the result to `destination` before Kling deletes it (30 days).

`clip_url` must be an http(s) URL Kling can fetch (mp4/mov, 3-15.5 s): e.g. a published
clip's public URL in your bucket or CDN, or within 30 days the `videos[0].url` of a
`kling_turbo_daily` run. The wait runs on the triggerer (`deferrable=True`); the connection
needs an API key (the new design accepts no access key + secret key).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.video import OmniVideoOperator

PUBLISHED = Asset("kling_published")


@dag(
    dag_id="kling_omni_edit",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example", "kling-3.0-omni"],
    params={
        "clip_url": Param(
            "https://example.com/kling_published/clip.mp4",
            type="string",
            pattern="^https?://",
            title="Clip URL",
            description="The published clip (http/https, mp4/mov, 3-15.5 s)",
        ),
        "action": Param("edit", type="string", enum=["edit", "extend"], title="Edit it or extend it"),
        "prompt": Param(
            "Make it dusk in @clip: warm street lights, light rain",
            type="string",
            minLength=1,
            maxLength=3072,
            title="Prompt (@clip is the clip)",
        ),
        "duration": Param(5, type="integer", minimum=3, maximum=15, title="Length of an extension (s)"),
        "destination": Param(
            default_destination(),
            type="string",
            minLength=1,
            title="Destination",
            description="Folder for the files: a local path, file://…, or s3://, gs://… (backend installed)",
        ),
    },
)
def kling_omni_edit() -> None:
    edit = "params.action == 'edit'"
    clip = '{"url": "{{ params.clip_url }}", "id": "clip"}'
    omni = OmniVideoOperator(
        task_id="omni",
        prompt="{{ params.prompt }}",
        # One of the two is rendered empty (= not sent): base video to edit, or feature video to extend.
        base_video="{% if " + edit + " %}" + clip + "{% endif %}",
        feature_video="{% if not " + edit + " %}" + clip + "{% endif %}",
        audio="{{ 'original' if " + edit + " else 'off' }}",
        # Not sent for an edit: Kling decides its length.
        duration="{{ '' if " + edit + " else params.duration }}",
        multi_shot=False,
        deferrable=True,
        timeout=1800,
    )
    KlingPublishOperator(
        task_id="publish",
        result=omni.output,
        destination="{{ params.destination }}",
        outlets=[PUBLISHED],
        retries=2,
        retry_delay=timedelta(seconds=30),
    )


kling_omni_edit()
