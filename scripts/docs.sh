#!/usr/bin/env bash
# Build the documentation site (Sphinx, docs/) into build/docs/html. Any warning fails the build:
# a broken include, a missing marker, a dangling cross-reference or toctree entry, a bad docstring.
# The last line printed is the absolute path of the built index.html.
# usage: bash scripts/docs.sh [extra sphinx-build options]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_venv docs

OUT="$PWD/build/docs"
rm -rf "$OUT"
mkdir -p "$OUT"
# autodoc imports the provider, which imports Airflow: keep Airflow's files out of ~/airflow.
export AIRFLOW_HOME="$OUT/airflow_home"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
echo "==> sphinx-build (html, -W --keep-going -n) docs -> $OUT/html"
# The filter drops the two INFO lines Airflow prints when autodoc first imports it; pipefail keeps
# sphinx-build's exit status.
.venv/bin/python -m sphinx -b html -W --keep-going -n -q -d "$OUT/doctrees" "$@" docs "$OUT/html" 2>&1 \
  | { grep -v -E '^# .* INFO airflow\.(configuration|settings) |^$' || true; }
echo "$OUT/html/index.html"
