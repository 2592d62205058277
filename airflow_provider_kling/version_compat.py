"""Names that moved between Airflow 3.1 and 3.2: imported from here so 3.1 keeps working.

Airflow 3.2 (task SDK 1.2) added ``airflow.sdk.configuration`` and ``airflow.sdk.exceptions.
AirflowFailException``; Airflow 3.1 (task SDK 1.1) has them only in airflow-core. Drop this
module when the provider stops supporting 3.1.
"""

from __future__ import annotations

try:
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowFailException, AirflowSensorTimeout  # type: ignore[no-redef]

__all__ = ["AirflowFailException", "AirflowSensorTimeout", "conf"]
