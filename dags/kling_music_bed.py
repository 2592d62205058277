"""
### Kling music bed: a video, music for it from text, one published MP4

1. **make_video** — Kling text-to-video (`kling-v3` by default) from your prompt.
2. **make_music** — Kling text-to-audio from your music prompt (3.0-10.0 s), in parallel.
3. **publish** — copies the video and the music, and writes `<video_id>-<mode>-<audio_id>.mp4`:
   the music laid under the video's own sound (`mix`, at `music_volume`) or as its only track
   (`replace`), as long as the video.

Against the local emulator (`kling-emulator`) it runs end to end without a Kling account.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.text_to_audio import TextToAudioOperator
from airflow_provider_kling.operators.video import TextToVideoOperator


@dag(
    dag_id="kling_music_bed",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example"],
    params={
        "prompt": Param(
            "Time-lapse of clouds over a mountain lake", type="string", minLength=1, maxLength=2500
        ),
        "model_name": Param("kling-v3", type="string", title="Video model"),
        "duration": Param("5", type="string", enum=[str(s) for s in range(3, 16)], title="Video seconds"),
        "music_prompt": Param("Warm ambient pads, slow", type="string", minLength=1, maxLength=200),
        "music_seconds": Param(5.0, type="number", minimum=3.0, maximum=10.0, title="Music seconds"),
        "music_mode": Param("mix", type="string", enum=["mix", "replace"], title="Music bed mode"),
        "music_volume": Param(0.3, type="number", minimum=0, maximum=2, title="Music volume (mix)"),
        "destination": Param(default_destination(), type="string", minLength=1, title="Destination"),
    },
)
def kling_music_bed() -> None:
    video = TextToVideoOperator(
        task_id="make_video",
        prompt="{{ params.prompt }}",
        model_name="{{ params.model_name }}",
        duration="{{ params.duration }}",
        timeout=1800,
        deferrable=True,
    )
    # [START howto_operator_kling_text_to_audio]
    music = TextToAudioOperator(
        task_id="make_music",
        prompt="{{ params.music_prompt }}",
        duration="{{ params.music_seconds }}",
        timeout=1800,
        deferrable=True,
    )
    # [END howto_operator_kling_text_to_audio]
    # [START howto_operator_kling_publish_music_bed]
    KlingPublishOperator(
        task_id="publish",
        result=video.output,
        music_bed=music.output,
        music_bed_mode="{{ params.music_mode }}",
        music_bed_volume="{{ params.music_volume }}",
        destination="{{ params.destination }}",
    )
    # [END howto_operator_kling_publish_music_bed]


kling_music_bed()
