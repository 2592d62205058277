"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The Airflow 3 UI builds the connection form from ``ui-field-behaviour`` and ``conn-fields`` here.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_kling import __version__

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
        # `[kling]` options (AIRFLOW__KLING__<NAME>); Admin -> Configurations lists them.
        "config": {
            "kling": {
                "description": "Kling AI provider settings.",
                "options": {
                    "min_remaining_units": {
                        "description": (
                            "Budget floor: before a Kling operator submits, it sums remaining_quantity "
                            "over the online resource packs and fails the task (no submit, no retries) "
                            "when the sum is below this. Unset: no check. An operator's "
                            "min_remaining_units argument overrides it; 0 turns the check off. "
                            "Kling's remaining figures lag by up to 12 hours."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "100",
                        "default": None,
                    },
                    "resource_packs_cache_seconds": {
                        "description": (
                            "How long one process reuses an answer of GET /account/costs (Kling asks "
                            "for at most one call per second there); 0 disables the cache."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "60",
                        "default": "60",
                    },
                    "resource_packs_cache_dir": {
                        "description": (
                            "Folder of the file that lets the processes of one host (each task "
                            "instance is one) share one GET /account/costs answer. Empty: "
                            "$AIRFLOW_HOME/kling_cache."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/var/cache/airflow/kling",
                        "default": "",
                    },
                },
            }
        },
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
                "conn-fields": {},
            }
        ],
    }
