"""Apache Airflow provider for Kling AI generation.

Kept nearly import-free on purpose: operator modules are imported on every DAG parse. The one
import makes the 0.1.0 module paths that moved into the layer folders still importable.
"""

from airflow_provider_kling._moved import install as _install_moved_paths

__version__ = "0.1.0"

DEFAULT_CONN_ID = "kling_default"

_install_moved_paths()
