"""Two one-task DAGs for the version matrix: the same video-to-audio task, blocking and deferrable.

``deferrable`` is passed explicitly: the operator's default comes from configuration, and these
DAGs must take the named path on every Airflow version whatever that default is.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

for dag_id, deferrable in (("kling_compat_blocking", False), ("kling_compat_deferrable", True)):
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False):
        VideoToAudioOperator(
            task_id="video_to_audio",
            video_id="825406034503692376",  # a video id: the emulator never fetches anything
            sound_effect_prompt="Rain on a tin roof",
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=120,
        )
