"""Apache Airflow provider for Kling AI generation.

Kept import-free on purpose: operator modules are imported on every DAG parse.
"""

__version__ = "0.1.0"

DEFAULT_CONN_ID = "kling_default"
