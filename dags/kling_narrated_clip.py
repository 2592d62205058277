"""
### Kling narrated clip: a video that speaks a script, its sound effects under the voice

1. **make_video** — Kling text-to-video from your prompt.
2. **make_effects** — Kling video-to-audio: sound effects for that video.
3. **speak** — Kling text-to-speech of your script with a preset voice (synchronous, 0.05
   units; an Airflow retry pays again: TTS takes no `external_task_id`).
4. **identify_face** — asks Kling's identify-face (0.05 units) which faces the video shows;
   **face_or_voice_over** branches on the answer: with a face, **lip_sync** makes the person
   speak the script (using that same identify-face session: not paid twice) and
   **publish_lip_sync** lays the effects under the talking video; with no face,
   **publish_voice_over** lays the script as a voice-over over the video with its effects.

Published: the video, the speech, the effects, and the final MP4 with the voice at full level and
the effects at `effects_volume` under it. Every Kling wait is deferrable. Against the local emulator
(`kling-emulator`) it runs end to end without a Kling account (a prompt with "landscape" or
"no face" has no face there).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.speech import LipSyncOperator, TextToSpeechOperator
from airflow_provider_kling.operators.video import TextToVideoOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

WAIT_LIMIT = 2 * 3600
VIDEO_ID = "{{ ti.xcom_pull('make_video')['videos'][0]['id'] }}"
SPEECH = "{{ ti.xcom_pull('speak')['audios'][0]"


@dag(
    dag_id="kling_narrated_clip",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example"],
    params={
        "prompt": Param(
            "A fisherman on the harbour wall talks to the camera at dusk",
            type="string",
            minLength=1,
            maxLength=2500,
        ),
        "script": Param(
            "The boats come home at dusk, and so do I.", type="string", minLength=1, maxLength=1000
        ),
        "voice_id": Param("oversea_male1", type="string", title="Preset voice"),
        "voice_language": Param("en", type="string", enum=["en", "zh"], title="Voice language"),
        "sound_effect_prompt": Param(
            "Harbour sounds: gulls, water, distant boats", type="string", maxLength=200
        ),
        "effects_volume": Param(0.35, type="number", minimum=0, maximum=2, title="Effects under the voice"),
        "destination": Param(default_destination(), type="string", minLength=1, title="Destination"),
    },
)
def kling_narrated_clip() -> None:
    video = TextToVideoOperator(
        task_id="make_video", prompt="{{ params.prompt }}", duration="5", deferrable=True, timeout=WAIT_LIMIT
    )
    effects = VideoToAudioOperator(
        task_id="make_effects",
        video_id=VIDEO_ID,
        sound_effect_prompt="{{ params.sound_effect_prompt }}",
        deferrable=True,
        timeout=WAIT_LIMIT,
    )
    speech = TextToSpeechOperator(
        task_id="speak",
        text="{{ params.script }}",
        voice_id="{{ params.voice_id }}",
        voice_language="{{ params.voice_language }}",
    )

    @task
    def identify_face(result: dict[str, Any]) -> dict[str, Any]:
        """Kling's identify-face for the video (0.05 units): its session and the faces found."""
        from airflow_provider_kling.hooks.kling import KlingHook

        return KlingHook().identify_face(video_id=result["videos"][0]["id"]).model_dump(mode="json")

    @task.branch
    def face_or_voice_over(session: dict[str, Any]) -> str:
        """Lip-sync when Kling found a face in the video, else a voice-over."""
        return "lip_sync" if session["face_data"] else "publish_voice_over"

    faces = identify_face(video.output)  # also: make_video runs first

    # [START howto_operator_kling_lip_sync]
    lip_sync = LipSyncOperator(
        task_id="lip_sync",
        video_id=VIDEO_ID,
        audio_id=SPEECH + "['id'] }}",
        audio_duration=SPEECH + "['duration'] }}",
        face_session=faces,  # the session identify_face paid for
        deferrable=True,
        timeout=WAIT_LIMIT,
    )
    # [END howto_operator_kling_lip_sync]
    # The talking video carries the speech: the effects go under it as a bed.
    publish_lip_sync = KlingPublishOperator(
        task_id="publish_lip_sync",
        result=lip_sync.output,
        music_bed=effects.output,
        music_bed_volume="{{ params.effects_volume }}",
        destination="{{ params.destination }}",
    )
    # No face: the effects go under the video's own sound, the voice over both.
    publish_voice_over = KlingPublishOperator(
        task_id="publish_voice_over",
        result=video.output,
        music_bed=effects.output,
        music_bed_volume=1.0,
        voice_over=speech.output,
        bed_volume="{{ params.effects_volume }}",
        destination="{{ params.destination }}",
    )
    branch = face_or_voice_over(faces)
    video >> effects  # its video_id is pulled in a template: that makes no dependency by itself
    branch >> [lip_sync, publish_voice_over]
    [speech, effects] >> publish_voice_over
    speech >> lip_sync >> publish_lip_sync
    effects >> publish_lip_sync


kling_narrated_clip()
