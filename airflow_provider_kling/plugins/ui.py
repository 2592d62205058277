"""The Airflow plugin: a "Kling" tab on every task instance and a "Kling" page in the navigation."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/kling"


class _LazyApps:
    """``fastapi_apps``, built on first read: only the api-server reads it, so only it imports FastAPI."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: Any, owner: Any) -> list[dict[str, Any]]:
        if self._apps is None:
            from airflow_provider_kling.plugins.app import create_app

            self._apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Kling"}]
        return self._apps


class KlingPlugin(AirflowPlugin):
    """Registered through the ``airflow.plugins`` entry point (see pyproject.toml)."""

    name = "kling"
    fastapi_apps = _LazyApps()
    external_views = [
        {
            "name": "Kling",
            # Airflow fills DAG_ID/RUN_ID/TASK_ID; an unmapped task keeps {MAP_INDEX} literally (read as -1).
            "href": URL_PREFIX + "/ti/{DAG_ID}/{RUN_ID}/{TASK_ID}?map_index={MAP_INDEX}",
            "destination": "task_instance",
            "url_route": "kling",
        },
        {
            "name": "Kling",
            "href": URL_PREFIX + "/overview",
            "destination": "nav",
            "url_route": "kling-overview",
        },
    ]
