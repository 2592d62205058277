"""DAGs for tests/test_fuzz.py and tests/test_secrets.py: templated inputs, full runs for secrets."""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import dag, task

from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(dag_id="kling_templated_inputs", schedule=None, start_date=START, catchup=False)
def kling_templated_inputs() -> None:
    """Every request field comes from the run's conf, so a run can render any value into it."""
    VideoToAudioOperator(
        task_id="video_to_audio",
        video_id="{{ dag_run.conf.get('video_id', '') }}",
        video_url="{{ dag_run.conf.get('video_url', '') }}",
        sound_effect_prompt="{{ dag_run.conf.get('sound_effect_prompt', '') }}",
        bgm_prompt="{{ dag_run.conf.get('bgm_prompt', '') }}",
        asmr_mode="{{ dag_run.conf.get('asmr_mode', False) }}",
        poll_interval=0.2,
        retries=0,
    )


def _secrets_dag(dag_id: str, deferrable: bool) -> None:
    @dag(dag_id=dag_id, schedule=None, start_date=START, catchup=False)
    def run() -> None:
        audio = VideoToAudioOperator(
            task_id="video_to_audio",
            video_id="{{ dag_run.conf.get('video_id', '825406034503692376') }}",
            sound_effect_prompt="Waves for run {{ run_id }}",
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=60,
            retries=0,
        )

        @task
        def report(result: dict) -> list[str]:
            urls = [a["url_mp3"] or a["url_wav"] for a in result["audios"]]
            print("KLING AUDIO:", urls)
            return urls

        report(audio.output)

    run()


@dag(dag_id="kling_mask_check", schedule=None, start_date=START, catchup=False)
def kling_mask_check() -> None:
    """Positive control: a task that logs the very header the hook sent must show it masked."""

    @task
    def log_the_authorization() -> None:
        from airflow.sdk._shared.secrets_masker import redact

        hook = KlingHook()
        hook.list_tasks("video-to-audio", 1, 1)
        header = hook._credentials.authorization() if hook._credentials else ""
        log = logging.getLogger("airflow.task")
        log.warning("Authorization header sent: %s", header)
        # Airflow's log pipeline also blanks anything shaped like a JWT ("eyJ***"); the masker's
        # own verdict shows the token itself was registered (it would read "eyJ***" otherwise).
        log.warning("Secrets masker verdict on the token: %s", redact(header.removeprefix("Bearer ")))

    log_the_authorization()


_secrets_dag("kling_secrets_blocking", deferrable=False)
_secrets_dag("kling_secrets_deferrable", deferrable=True)
kling_templated_inputs()
kling_mask_check()
