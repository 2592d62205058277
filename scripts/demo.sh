#!/usr/bin/env bash
# Install the provider and run the example pipeline end to end with `airflow dags test`, on
# Airflow's embedded SQLite default, against the local Kling emulator (no Kling account needed):
# text-to-video -> video-to-audio -> publish (video, MP3, WAV and the muxed MP4) to
# .demo/airflow_home/kling_published, then show what each published file contains.
# usage: bash scripts/demo.sh [DAG_ID]   (default: kling_content_pipeline)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_venv media

DAG_ID="${1:-kling_content_pipeline}"
DEMO="$PWD/.demo"
rm -rf "$DEMO" && mkdir -p "$DEMO"
export AIRFLOW_HOME="$DEMO/airflow_home"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# The emulator finishes a task in 5 s: ask every second instead of the DAGs' default 5 s.
export AIRFLOW__KLING__POLL_INTERVAL=1
PUBLISHED="$AIRFLOW_HOME/kling_published"

echo "==> starting the Kling emulator"
.venv/bin/kling-emulator --port 0 --port-file "$DEMO/port" --submitted-seconds 1 --processing-seconds 4 \
  >"$DEMO/emulator.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$DEMO/port" ] && break; sleep 0.1; done
if [ ! -s "$DEMO/port" ]; then
  tail -n 20 "$DEMO/emulator.log"
  echo "FAILED: the Kling emulator did not start within 10 s; see $DEMO/emulator.log"
  exit 1
fi
PORT="$(cat "$DEMO/port")"
# Official-API mode (JWT from access key + secret key), pointed at the emulator.
export AIRFLOW_CONN_KLING_DEFAULT="{\"conn_type\": \"kling\", \"host\": \"http://127.0.0.1:$PORT\", \"login\": \"emulator-access-key\", \"password\": \"emulator-secret-key-0123456789abcdef\"}"

echo "==> airflow db migrate (SQLite in $AIRFLOW_HOME)"
.venv/bin/airflow db migrate >"$DEMO/migrate.log" 2>&1

echo "==> airflow dags test $DAG_ID (status lines as they happen)"
STARTED=$SECONDS
# In the background, so the status lines show while Kling works: tail follows the log until the
# run's process ends (--pid), the filter keeps the Kling lines. Unbuffered, so lines come at once.
PYTHONUNBUFFERED=1 .venv/bin/airflow dags test "$DAG_ID" >"$DEMO/dag_test.log" 2>&1 &
DAG_PID=$!
trap 'kill "$DAG_PID" 2>/dev/null || true; kill "$EMULATOR_PID" 2>/dev/null || true' EXIT
tail -n +1 -F --pid="$DAG_PID" "$DEMO/dag_test.log" 2>/dev/null \
  | grep --line-buffered -E "Kling .* task [0-9]+: |Kling .* task [0-9]+ .*is submitted |Kling task [0-9]+ cost |Budget check |Published |Muxed |waits for a free slot|Pausing task as DEFERRED" \
  | sed -u -E 's/^.*Pausing task as DEFERRED.* task_id=([^ ]+).*$/\1: deferred, waits on the triggerer (no worker slot held)/; s/^[^ ]+ \[[^]]*\] //; s/ \[airflow[^]]*\] loc=.*$//' || true
DAG_STATUS=0
wait "$DAG_PID" || DAG_STATUS=$?
if [ "$DAG_STATUS" -ne 0 ]; then
  tail -n 60 "$DEMO/dag_test.log"
  echo "FAILED: see $DEMO/dag_test.log"
  exit 1
fi
if ! grep -q "DagRun Finished: .*state=success" "$DEMO/dag_test.log"; then
  echo "FAILED: the DAG run did not succeed; see $DEMO/dag_test.log"
  exit 1
fi
echo "==> $DAG_ID succeeded in $((SECONDS - STARTED)) s (full log: $DEMO/dag_test.log)"
if [ -d "$PUBLISHED" ]; then
  echo "==> published files in $PUBLISHED"
  .venv/bin/python scripts/show_media.py "$PUBLISHED"
else
  # Nothing published (e.g. kling_video_to_audio): the result URLs point at the emulator, which
  # stops with this script, so copy the files out while it still runs and show the copies.
  mapfile -t URLS < <(grep -oE "KLING (AUDIO|VIDEO WITH SOUND): [^ ]+" "$DEMO/dag_test.log" | sed 's/^KLING [A-Z ]*: //' | sort -u)
  if [ "${#URLS[@]}" -gt 0 ]; then
    echo "==> the result's files, copied from the emulator (it stops now) to $DEMO/results"
    .venv/bin/python scripts/show_media.py --download "$DEMO/results" "${URLS[@]}"
  fi
fi
