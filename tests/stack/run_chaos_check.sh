#!/usr/bin/env bash
# The chaos run as a CI step: installs PostgreSQL + Redis (apt, when missing) and the `stack`
# extra, then `pytest -m chaos tests/stack`, which brings up scripts/stack.sh in a temp folder,
# runs kling_prompt_fanout (KLING_CHAOS_PROMPTS, default 16) through a triggerer SIGKILL, a
# worker SIGKILL inside a submit, a PostgreSQL restart and a 60 s Kling outage, and stops exactly
# what it started (by pid / process group, also after a failure or a SIGTERM from `timeout`).
set -euo pipefail
cd "$(dirname "$0")/../.."
START=$SECONDS
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then
  echo "==> installing postgresql and redis-server (apt-get)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql redis-server >/dev/null
fi
source scripts/_venv.sh
install_venv "test,stack"
echo "==> setup took $((SECONDS - START))s"
status=0
# pytest exits 5 when it collects nothing: `|| status=$?` keeps that a failure.
timeout --kill-after=60 2400 .venv/bin/python -m pytest -m chaos tests/stack -p no:cacheprovider -q -s \
  --timeout=2300 "$@" || status=$?
echo "==> chaos check $([ "$status" -eq 0 ] && echo PASSED || echo "FAILED (exit $status)") in $((SECONDS - START))s"
exit "$status"
