"""
### Kling presenter: a portrait reads your script, published as one talking MP4

1. **portrait** — Kling image generation: one square 2K portrait from `portrait_prompt`
   (deferred wait; an image task holds one parallel-task slot per image).
2. **speak** — Kling text-to-speech of the script (synchronous: the answer is the audio; every
   run pays 0.05 units, as every Airflow retry of this task does: TTS has no id to re-attach to).
3. **present** — Kling avatar: the generated portrait says the TTS audio (`audio_id`), with the prompt's
   actions and emotions; the video lasts as long as the speech and carries it as its sound.
4. **publish** — copies the talking video to the destination before Kling deletes it (30 days).

The avatar reads the portrait as ``images[0].url`` of the generation's result, no glue code.
Against the local emulator (`kling-emulator`) it runs
end to end without a Kling account.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_kling.operators.image import ImageGenerationOperator
from airflow_provider_kling.operators.publish import KlingPublishOperator, default_destination
from airflow_provider_kling.operators.speech import AvatarOperator, TextToSpeechOperator

PORTRAIT_URL = "{{ ti.xcom_pull(task_ids='portrait')['images'][0]['url'] }}"


@dag(
    dag_id="kling_presenter",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["kling", "example"],
    params={
        "portrait_prompt": Param(
            "Head-and-shoulders portrait of a friendly news presenter, studio light, looking at the camera",
            type="string",
            minLength=1,
            maxLength=2500,
            title="Portrait prompt",
        ),
        "script": Param(
            "Good evening. The harbour lights are on, and the night ferry leaves at nine.",
            type="string",
            minLength=1,
            maxLength=1000,
        ),
        "voice_id": Param("oversea_male1", type="string", minLength=1, title="Voice id"),
        "voice_language": Param("en", type="string", enum=["en", "zh"]),
        "voice_speed": Param(1.0, type="number", minimum=0.8, maximum=2.0),
        "prompt": Param(
            "Speaks warmly, nods at the end", type="string", maxLength=2500, title="Avatar prompt"
        ),
        "mode": Param("std", type="string", enum=["std", "pro"]),
        "destination": Param(default_destination(), type="string", minLength=1, title="Destination"),
    },
)
def kling_presenter() -> None:
    portrait = ImageGenerationOperator(
        task_id="portrait",
        prompt="{{ params.portrait_prompt }}",
        n=1,
        aspect_ratio="1:1",
        resolution="2k",
        deferrable=True,
        timeout=1800,
    )
    # [START howto_operator_kling_text_to_speech]
    speech = TextToSpeechOperator(
        task_id="speak",
        text="{{ params.script }}",
        voice_id="{{ params.voice_id }}",
        voice_language="{{ params.voice_language }}",
        voice_speed="{{ params.voice_speed }}",
    )
    # [END howto_operator_kling_text_to_speech]
    # [START howto_operator_kling_avatar]
    presenter = AvatarOperator(
        task_id="present",
        image=PORTRAIT_URL,
        audio_id="{{ ti.xcom_pull(task_ids='speak')['audios'][0]['id'] }}",
        prompt="{{ params.prompt }}",
        mode="{{ params.mode }}",
        deferrable=True,
        timeout=3600,
    )
    # [END howto_operator_kling_avatar]
    [portrait, speech] >> presenter
    KlingPublishOperator(task_id="publish", result=presenter.output, destination="{{ params.destination }}")


kling_presenter()
