"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The Airflow 3 UI builds the connection form from ``ui-field-behaviour`` and ``conn-fields`` here.
"""

from __future__ import annotations

from typing import Any

DOCS_URL = "https://github.com/airflow-provider-kling/airflow-provider-kling#readme"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-kling",
        "name": "Kling AI",
        "description": (
            "Kling AI generation in Airflow pipelines: text/image-to-video, video-to-audio, "
            "waiting without a worker slot, and publishing results before Kling deletes them."
        ),
        "versions": ["0.1.0"],
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
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {
                        "host": "Base URL",
                        "login": "Access key",
                        "password": "Secret key or API key",
                    },
                    "placeholders": {
                        "host": "https://api-singapore.klingai.com  (or a proxy, e.g. https://www.kkiai.com/kling)",
                        "login": "Access key (official API). Leave empty to use a proxy API key",
                        "password": "Secret key (with an access key) or the proxy's API key",
                        "port": "optional; the Base URL may carry its own port",
                    },
                },
                "conn-fields": {},
            }
        ],
    }
