"""The provider's Airflow configuration: the ``[kling]`` options and the defaults read from config.

Declared for Airflow in ``get_provider_info()`` (so they show in ``airflow config list``), and
read when an operator is constructed, not when its module is imported: a DAG file parsed after
the setting changed sees the new value. Imports nothing heavy: operator modules use it.
"""

from __future__ import annotations

import os
from typing import Any

SECTION = "kling"
DEFAULT_POLL_INTERVAL = 10.0


def provider_config() -> dict[str, Any]:
    """The ``config`` entry of the provider info (the format of Airflow's provider.yaml)."""
    return {
        SECTION: {
            "description": "Kling AI provider settings: defaults of the operators, sensor and triggers.",
            "options": {
                "poll_interval": {
                    "description": (
                        "Seconds between status checks of a Kling task, when an operator or "
                        "KlingTaskSensor does not set its own poll_interval / poke_interval. Waits on "
                        "one triggerer are batched (one list call per interval for all of them)."
                    ),
                    "version_added": "0.1.0",
                    "type": "float",
                    "example": "30",
                    "default": str(DEFAULT_POLL_INTERVAL),
                },
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
                "submit_on_triggerer": {
                    "description": (
                        "A deferrable operator that waits for its task leaves the submit itself to "
                        "the triggerer (still one deferral): there every submit of the connection "
                        "waits in one line that counts the account's running tasks, so a fan-out "
                        "at the account's parallel-task limit does not meet 1303 on every worker. "
                        "The worker still re-attaches to an earlier try's task first."
                    ),
                    "version_added": "0.2.0",
                    "type": "boolean",
                    "example": "True",
                    "default": "False",
                },
            },
        }
    }


def poll_interval() -> float:
    """``[kling] poll_interval``, read now."""
    from airflow_provider_kling.version_compat import conf

    return conf.getfloat(SECTION, "poll_interval", fallback=DEFAULT_POLL_INTERVAL)


def min_remaining_units() -> str | None:
    """``[kling] min_remaining_units`` as configured (text, or ``None``); the operator checks the number."""
    from airflow_provider_kling.version_compat import conf

    value = conf.get(SECTION, "min_remaining_units", fallback=None)
    return None if value is None else str(value)


def submit_on_triggerer() -> bool:
    """``[kling] submit_on_triggerer``, read now."""
    from airflow_provider_kling.version_compat import conf

    return conf.getboolean(SECTION, "submit_on_triggerer", fallback=False)


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read now (as Airflow's own operators do, but per construction)."""
    from airflow_provider_kling.version_compat import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


DEFAULT_RESOURCE_PACKS_CACHE_SECONDS = 60.0


def resource_packs_cache_dir() -> str:
    """``[kling] resource_packs_cache_dir``, default ``$AIRFLOW_HOME/kling_cache``."""
    from airflow_provider_kling.version_compat import conf

    configured = (conf.get(SECTION, "resource_packs_cache_dir", fallback="") or "").strip()
    home = os.environ.get("AIRFLOW_HOME") or "~/airflow"
    return os.path.expanduser(configured or os.path.join(home, "kling_cache"))


def resource_packs_cache_seconds() -> float:
    """``[kling] resource_packs_cache_seconds`` (default 60)."""
    from airflow_provider_kling.version_compat import conf

    raw = conf.get(SECTION, "resource_packs_cache_seconds", fallback=None)
    if raw is None or not str(raw).strip():
        return DEFAULT_RESOURCE_PACKS_CACHE_SECONDS
    return _non_negative(raw, "[kling] resource_packs_cache_seconds", "seconds")


def budget_floor(value: Any, operator: str) -> float | None:
    """The operator's ``min_remaining_units``, else ``[kling] min_remaining_units``; None: no check."""
    where = f"Invalid {operator}: min_remaining_units"
    if value is None:
        value = min_remaining_units()
        where = "[kling] min_remaining_units"
        if value is None or not str(value).strip():
            return None
    return _non_negative(value, where, "units") or None  # 0 turns the check off


def _non_negative(value: Any, where: str, unit: str) -> float:
    """``value`` as a finite number >= 0; anything else (a bool too) fails naming ``where``."""
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not 0 <= number < float("inf"):
        from airflow_provider_kling.exceptions import KlingValidationError

        raise KlingValidationError(f"{where}: must be a number of {unit} >= 0, got {value!r}")
    return number
