"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The Airflow 3 UI builds the connection form from ``ui-field-behaviour`` and ``conn-fields`` here.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_kling import __version__
from airflow_provider_kling.config import provider_config
from airflow_provider_kling.connection_extra import CONN_FIELDS

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
                    "airflow_provider_kling.operators.text_to_audio",
                    "airflow_provider_kling.operators.publish",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Kling AI", "python-modules": ["airflow_provider_kling.sensors.kling"]}
        ],
        "hooks": [{"integration-name": "Kling AI", "python-modules": ["airflow_provider_kling.hooks.kling"]}],
        "triggers": [
            {"integration-name": "Kling AI", "python-modules": ["airflow_provider_kling.triggers.kling"]}
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_kling.hooks.kling.KlingHook",
                "hook-name": "Kling AI",
                "connection-type": "kling",
                # Airflow 3.2+ renders the form from this dict; 3.1 from KlingHook.get_ui_field_behaviour(),
                # which returns this same dict.
                # "schema" is hidden because the Base URL carries the scheme; "extra" is hidden in
                # the Airflow 2 form (the Airflow 3 form always shows its "Extra Fields JSON" box).
                # The port stays visible: Airflow 3.3.2's row "Test" button sends port 0 for a
                # connection without one and the API refuses it (fixed in apache/airflow#73298).
                # Kling documents the API key "for all models" and AK/SK -> JWT for the legacy
                # design only: the labels put the API key first. Auth stays in the standard fields
                # (password = API key, login empty) so existing connections keep working.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {
                        "host": "Base URL",
                        "login": "Access key (legacy JWT)",
                        "password": "API key (or legacy secret key)",
                    },
                    "placeholders": {
                        "host": (
                            "https://api-singapore.klingai.com (China: https://api-beijing.klingai.com; "
                            "proxy: https://www.kkiai.com/kling)"
                        ),
                        "login": "leave empty for an API key; legacy design (JWT): your access key",
                        "password": "your API key (official or proxy); legacy design: your secret key",
                        "port": "443 (set a port: Airflow 3.3.2's Test button needs one)",
                    },
                },
                # Optional HTTP settings, stored in the extra (see connection_extra.py).
                "conn-fields": CONN_FIELDS,
            }
        ],
        # [kling] options; Airflow lists them in `airflow config list`.
        "config": provider_config(),
    }
