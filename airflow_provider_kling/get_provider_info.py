"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The Airflow 3 UI builds the connection form from ``ui-field-behaviour`` and ``conn-fields`` here.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_kling import __version__
from airflow_provider_kling.config import provider_config
from airflow_provider_kling.hooks.connection import CONN_FIELDS, UI_FIELD_BEHAVIOUR

DOCS_URL = "https://github.com/airflow-provider-kling/airflow-provider-kling#readme"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-kling",
        "name": "Kling AI",
        # Admin → Providers shows this text; its package-name link comes from the distribution's
        # `Documentation` project URL (pyproject.toml), not from "documentation-url" below.
        "description": (
            "Kling AI generation in Airflow pipelines: text/image-to-video, video-to-audio, "
            "waiting without a worker slot, and publishing results before Kling deletes them."
        ),
        "versions": [__version__],
        "documentation-url": DOCS_URL,
        "integrations": [
            {
                "integration-name": "Kling AI",
                "external-doc-url": "https://app.klingai.com/global/dev/document-api",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Kling AI",
                "python-modules": [
                    "airflow_provider_kling.operators.video_to_audio",
                    "airflow_provider_kling.operators.video",
                    "airflow_provider_kling.operators.new_video",
                    "airflow_provider_kling.operators.text_to_audio",
                    "airflow_provider_kling.operators.speech",
                    "airflow_provider_kling.operators.publish",
                    "airflow_provider_kling.operators.image",
                    "airflow_provider_kling.operators.effects",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Kling AI", "python-modules": ["airflow_provider_kling.sensors.kling"]}
        ],
        "hooks": [
            {
                "integration-name": "Kling AI",
                # hooks.speech: KlingHook's speech calls (a mixin of KlingHook)
                "python-modules": [
                    "airflow_provider_kling.hooks.kling",
                    "airflow_provider_kling.hooks.speech",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Kling AI",
                "python-modules": [
                    "airflow_provider_kling.triggers.kling",
                    "airflow_provider_kling.triggers.submit",
                ],
            }
        ],
        # Buttons on a Kling task's page (Airflow stores each link in XCom when the task runs).
        "extra-links": [
            "airflow_provider_kling.links.kling.KlingResultLink",
            "airflow_provider_kling.links.kling.KlingPublishedLink",
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_kling.hooks.kling.KlingHook",
                "hook-name": "Kling AI",
                "connection-type": "kling",
                # Airflow 3.2+ renders the form from this dict; 3.1 from KlingHook.get_ui_field_behaviour().
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                # Optional HTTP settings, stored in the extra (see hooks/connection.py).
                "conn-fields": CONN_FIELDS,
            }
        ],
        # [kling] options; Airflow lists them in `airflow config list`.
        "config": provider_config(),
    }
