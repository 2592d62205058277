#!/usr/bin/env bash
# Browser check of the provider in a real Airflow 3 UI: installs Chromium (apt) and Playwright
# (the `ui` extra), then runs `pytest -m ui tests/ui`, which starts the Kling emulator and an
# Airflow stack (api-server, scheduler, dag-processor, triggerer; SQLite) on free ports in a temp
# AIRFLOW_HOME, drives headless Chromium and tears everything down.
# Screenshots and summary.txt land in artifacts/ui/. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
START=$SECONDS

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Chromium (apt-get; Playwright's own browser download does not work here)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
source scripts/_venv.sh
install_venv "test,ui"
echo "==> setup took $((SECONDS - START))s"

echo "==> pytest -m ui (Airflow + emulator + headless Chromium)"
status=0
# pytest exits 5 when it collects nothing (e.g. playwright missing): a failure here too.
timeout --kill-after=30 900 .venv/bin/python -m pytest -m ui tests/ui -p no:cacheprovider -q \
  --durations=0 --timeout=600 "$@" || status=$?

echo "==> summary (artifacts/ui/summary.txt)"
cat artifacts/ui/summary.txt 2>/dev/null || echo "(no summary written)"
echo "==> UI check $([ "$status" -eq 0 ] && echo PASSED || echo "FAILED (exit $status)") in $((SECONDS - START))s"
exit "$status"
