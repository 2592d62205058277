#!/usr/bin/env bash
# Install the provider with its test tools and run the checks: ruff, mypy, then pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k hook`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_venv test

echo "==> ruff"
.venv/bin/ruff check airflow_provider_kling kling_emulator dags tests benchmarks
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest (default suite)"
# pytest exits 5 when it collects nothing; `set -e` turns that into a failure too.
.venv/bin/python -m pytest "$@"
