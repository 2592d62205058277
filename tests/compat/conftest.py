"""Fixtures of the version-matrix tests (``-m compat``, run by scripts/compat.sh on each venv)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

COMPAT_DAGS = Path(__file__).parent / "dag_files"


@pytest.fixture(scope="session")
def compat_dags(airflow_db: Path) -> Path:
    """The dags folder of tests/conftest.py, with this folder's DAGs added."""
    for source in COMPAT_DAGS.glob("*.py"):
        shutil.copy(source, airflow_db / source.name)
    return airflow_db


def load_dag(dags_folder: Path, dag_id: str) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1 keeps it in airflow.models
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(dags_folder))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]
