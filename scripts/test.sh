#!/usr/bin/env bash
# Install the provider with its test tools and run the checks: ruff, mypy, then pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k hook`; `-n 0` to run it in one process).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_venv test

echo "==> ruff"
.venv/bin/ruff check airflow_provider_kling kling_emulator dags tests benchmarks
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest (default suite)"
# pytest exits 5 when it collects nothing; `set -e` turns that into a failure too (with xdist as well).
# Two worker processes (pytest-xdist): the suite mostly waits on emulator timings, so this halves
# its wall time on CI's 2 cores. Each worker has its own AIRFLOW_HOME, SQLite DB and emulators
# (tests/conftest.py). A later -n wins: `bash scripts/test.sh -n 0` runs it in one process.
.venv/bin/python -m pytest -n 2 "$@"
