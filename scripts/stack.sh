#!/usr/bin/env bash
# A production-shaped Airflow on this machine: PostgreSQL 15 + Redis (Debian packages, plain
# processes with their own data dir and port, not system services), CeleryExecutor with two
# workers, two triggerers, api-server, scheduler, dag-processor, and the Kling emulator.
# Loopback and free ports only. State, logs and pid files live in $KLING_STACK_DIR (.stack/).
#
#   bash scripts/stack.sh up       start what is not running (idempotent); prints api=… emulator=…
#   bash scripts/stack.sh down     stop exactly what `up` started (pid files / process groups)
#   bash scripts/stack.sh status   one line per component: alive or not
#   bash scripts/stack.sh clean    down, then remove the stack folder (database included)
#   bash scripts/stack.sh pg-restart   pg_ctl restart under the running stack (chaos run)
#
# Every component runs in its own session (pid == process group id), so `down` can stop it with
# its children (task processes, log servers) and nothing else. AIRFLOW_CONN_KLING_DEFAULT from the
# caller's environment at the first `up` is passed to Airflow; else it points at the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
STACK=${KLING_STACK_DIR:-$REPO/.stack}
PIDS=$STACK/pids
LOGS=$STACK/logs
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
WORKERS=2
TRIGGERERS=2
WORKER_CONCURRENCY=${KLING_STACK_WORKER_CONCURRENCY:-4}
# Order matters: `up` starts left to right, `down` stops right to left.
AIRFLOW_COMPONENTS="api-server-1 scheduler-1 dag-processor-1 triggerer-1 triggerer-2 worker-1 worker-2"

log() { echo "stack: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_postgres() {  # initdb/postgres refuse to run as root: use the package's postgres user then
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# ---------------------------------------------------------------- pids

pid_of() { [ -f "$PIDS/$1.pid" ] && head -1 "$PIDS/$1.pid" || true; }

alive() {  # the pid file's process exists and still leads its own group (not a recycled pid)
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$1" = postgres-1 ] && return 0  # postmaster: pg_ctl starts it in its own session too
  [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ]
}

spawn() {  # spawn NAME CMD...: in a new session; the child writes its own pid (== pgid)
  local name=$1
  shift
  mkdir -p "$PIDS" "$LOGS"
  rm -f "$PIDS/$name.pid"
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$PIDS/$name.pid" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  local i
  for i in $(seq 50); do [ -s "$PIDS/$name.pid" ] && return 0; sleep 0.1; done
  die "$name did not start"
}

stop_group() {  # SIGTERM the group, wait up to $2 s, then SIGKILL what is left of it
  local name=$1 grace=${2:-20} pid i
  pid=$(pid_of "$name")
  [ -n "$pid" ] || return 0
  if alive "$name"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for i in $(seq $((grace * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  # The group can outlive its leader (a SIGKILLed triggerer's log server, task processes).
  if [ -n "$(ps -o pid= -g "$pid" 2>/dev/null)" ]; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.job"
}

wait_for() {  # wait_for WHAT SECONDS CMD...
  local what=$1 secs=$2 i
  shift 2
  for i in $(seq $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "timed out after ${secs}s waiting for $what (logs: $LOGS)"
}

# ---------------------------------------------------------------- setup

ensure_packages() {
  local missing=""
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || missing="postgresql"
  command -v redis-server >/dev/null || missing="$missing redis-server"
  [ -z "$missing" ] && return 0
  log "installing$missing (apt-get)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
}

ensure_venv() {
  if .venv/bin/python -c "import airflow.providers.celery, celery, psycopg2, asyncpg, av" 2>/dev/null; then
    return 0
  fi
  # shellcheck source=scripts/_venv.sh
  source scripts/_venv.sh
  install_venv "media,stack"
}

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ensure_settings() {  # ports and secrets, chosen once per stack folder so restarts reuse them
  mkdir -p "$STACK" "$PIDS" "$LOGS"
  chmod 711 "$STACK"  # others (the postgres user) may pass through to its data dir, not list
  [ -f "$STACK/settings.env" ] && return 0
  local secret
  secret() { .venv/bin/python -c 'import secrets; print(secrets.token_hex(24))'; }
  # The file holds the JWT secret and the Fernet key: never readable by others, not even briefly.
  (
    umask 077
    {
      echo "PG_PORT=$(free_port)"
      echo "REDIS_PORT=$(free_port)"
      echo "API_PORT=$(free_port)"
      echo "EMULATOR_PORT=$(free_port)"
      echo "JWT_SECRET=$(secret)"
      echo "API_SECRET=$(secret)"
      echo "FERNET_KEY=$(.venv/bin/python -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
    } >"$STACK/settings.env.tmp"
  )
  if [ -n "${AIRFLOW_CONN_KLING_DEFAULT:-}" ]; then
    printf 'KLING_CONN=%q\n' "$AIRFLOW_CONN_KLING_DEFAULT" >>"$STACK/settings.env.tmp"
  fi
  chmod 600 "$STACK/settings.env.tmp"
  mv "$STACK/settings.env.tmp" "$STACK/settings.env"
}

pg_dir() {  # the data dir's parent: in the stack folder if postgres can reach it, else a temp dir it owns
  if [ -f "$STACK/postgres.dir" ]; then cat "$STACK/postgres.dir"; return; fi
  local dir=$STACK/postgres
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then  # e.g. a checkout under a 0700 home
      rmdir "$dir"
      dir=$(mktemp -d /tmp/kling-stack-pg.XXXXXX)
      chown postgres:postgres "$dir"
    fi
  fi
  echo "$dir" >"$STACK/postgres.dir"
  echo "$dir"
}

load_settings() {
  # shellcheck disable=SC1091
  source "$STACK/settings.env"
  DB_URL="postgresql+psycopg2://airflow@127.0.0.1:$PG_PORT/airflow"
  API_URL="http://127.0.0.1:$API_PORT"
  EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
  if [ -z "${KLING_CONN:-}" ]; then
    KLING_CONN=$(printf '{"conn_type": "kling", "host": "%s", "login": "emulator-access-key", "password": "emulator-secret-key-0123456789abcdef"}' "$EMULATOR_URL")
  fi
}

airflow_env() {  # the environment every Airflow component shares (component-specific bits on top)
  local keep
  keep=$(env | grep -E '^(HOME|LANG|LC_[A-Z]+|TZ|TMPDIR|USER)=' || true)
  local -a vars=()
  while IFS= read -r line; do [ -n "$line" ] && vars+=("$line"); done <<<"$keep"
  vars+=(
    "PATH=$REPO/.venv/bin:$PATH"
    "AIRFLOW_HOME=$STACK/airflow"
    "AIRFLOW__CORE__DAGS_FOLDER=$REPO/dags"
    "AIRFLOW__CORE__LOAD_EXAMPLES=False"
    "AIRFLOW__CORE__EXECUTOR=CeleryExecutor"
    "AIRFLOW__CORE__PARALLELISM=32"
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=64"
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False"
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True"
    "AIRFLOW__CORE__TEST_CONNECTION=Enabled"
    "AIRFLOW__CORE__FERNET_KEY=$FERNET_KEY"
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$API_URL/execution/"
    # Production defaults for every task: retries (a lost worker's task is retried and
    # re-attaches to its Kling task) and deferrable waits.
    "AIRFLOW__CORE__DEFAULT_TASK_RETRIES=${KLING_STACK_TASK_RETRIES:-3}"
    "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY=${KLING_STACK_RETRY_DELAY:-10}"
    "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=True"
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=$DB_URL"
    "AIRFLOW__CELERY__BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0"
    # Explicit driver: SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL.
    "AIRFLOW__CELERY__RESULT_BACKEND=db+$DB_URL"
    "AIRFLOW__CELERY__WORKER_CONCURRENCY=$WORKER_CONCURRENCY"
    "AIRFLOW__API__HOST=127.0.0.1"
    "AIRFLOW__API__PORT=$API_PORT"
    "AIRFLOW__API__BASE_URL=$API_URL"
    "AIRFLOW__API__WORKERS=1"
    # One secret for all components, else tokens minted by one are refused by another.
    "AIRFLOW__API_AUTH__JWT_SECRET=$JWT_SECRET"
    "AIRFLOW__API__SECRET_KEY=$API_SECRET"
    # A task whose worker died is noticed after this (default 300 s) and retried.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=${KLING_STACK_HEARTBEAT_TIMEOUT:-60}"
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=10"
    "AIRFLOW__KLING__POLL_INTERVAL=${KLING_STACK_POLL_INTERVAL:-5}"
    # True: deferrable Kling operators leave their first submit to the triggerer's line.
    "AIRFLOW__KLING__SUBMIT_ON_TRIGGERER=${KLING_STACK_SUBMIT_ON_TRIGGERER:-False}"
    "AIRFLOW_CONN_KLING_DEFAULT=$KLING_CONN"
  )
  printf '%s\0' "${vars[@]}"
}

airflow_envs() {  # fills ENVS with airflow_env
  local v
  ENVS=()
  while IFS= read -r -d '' v; do ENVS+=("$v"); done < <(airflow_env)
}

run_airflow() {  # run_airflow CMD...: CMD in the stack's Airflow environment
  airflow_envs
  env -i "${ENVS[@]}" "$@"
}

spawn_airflow() {  # spawn_airflow COMPONENT CMD...: like spawn, in the stack's Airflow environment
  airflow_envs
  spawn "$1" env -i "${ENVS[@]}" "${@:2}"
}

psql_airflow() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U airflow -d airflow -tAc "$1"; }

last_triggerer_job() { psql_airflow "SELECT coalesce(max(id), 0) FROM job WHERE job_type = 'TriggererJob'"; }

new_triggerer_job() { [ "$(last_triggerer_job)" -gt "$1" ]; }

# ---------------------------------------------------------------- components

start_postgres() {
  alive postgres-1 && return 0
  local dir
  dir=$(pg_dir)
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initdb ($dir/data)"
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -A trust -U airflow -E UTF8 >"$LOGS/postgres-initdb.log" 2>&1 \
      || die "initdb failed: $(tail -5 "$LOGS/postgres-initdb.log")"
  fi
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null \
    || die "PostgreSQL did not start: $(tail -5 "$dir/postgres.log")"
  head -1 "$dir/data/postmaster.pid" >"$PIDS/postgres-1.pid"
  if ! as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U airflow -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='airflow'" | grep -q 1; then
    as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U airflow airflow
  fi
}

stop_postgres() {
  local dir
  [ -f "$STACK/postgres.dir" ] || return 0
  dir=$(cat "$STACK/postgres.dir")
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || stop_group postgres-1 5
  fi
  rm -f "$PIDS/postgres-1.pid"
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

start_redis() {
  alive redis-1 && return 0
  spawn redis-1 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no
  wait_for "Redis" 20 redis_up
}

emulator_up() { curl -fsS "$EMULATOR_URL/_emulator/health"; }

start_emulator() {
  alive emulator-1 && return 0
  # The state file brings the tasks back after a stop (a Kling outage in the chaos run).
  spawn emulator-1 .venv/bin/kling-emulator --port "$EMULATOR_PORT" --state-file "$STACK/emulator-state.json" \
    ${KLING_STACK_EMULATOR_ARGS:-}
  wait_for "the emulator" 30 emulator_up
}

airflow_health() {
  curl -fsS "$API_URL/api/v2/monitor/health" | .venv/bin/python -c '
import json, sys
h = json.load(sys.stdin)
parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
sys.exit(0 if all(h.get(p, {}).get("status") == "healthy" for p in parts) else 1)'
}

worker_ready() { grep -q "ready\." "$LOGS/$1.log"; }

start_airflow() {
  local fresh=""
  for c in $AIRFLOW_COMPONENTS; do alive "$c" || fresh="$fresh $c"; done
  [ -n "$fresh" ] || return 0
  if [ ! -f "$STACK/airflow/.migrated" ]; then
    log "airflow db migrate"
    mkdir -p "$STACK/airflow"
    run_airflow .venv/bin/airflow db migrate >"$LOGS/migrate.log" 2>&1 \
      || die "airflow db migrate failed: $(tail -20 "$LOGS/migrate.log")"
    touch "$STACK/airflow/.migrated"
  fi
  local c n kind job
  for c in $fresh; do
    n=${c##*-} kind=${c%-*}
    echo "---- $(date -u +%FT%TZ) start" >>"$LOGS/$c.log"
    # --skip-serve-logs: Airflow's log server binds every interface ([::], not configurable);
    # all components share one AIRFLOW_HOME here, so the api-server reads the log files directly.
    case $kind in
      api-server) spawn_airflow "$c" .venv/bin/airflow api-server --port "$API_PORT" ;;
      worker) spawn_airflow "$c" .venv/bin/airflow celery worker -H "worker-$n@%h" \
        --concurrency "$WORKER_CONCURRENCY" --skip-serve-logs ;;
      triggerer)
        # One at a time, so the new TriggererJob row is this process's: triggerer-N.job maps the
        # REST API's trigger.triggerer_id to a pid (the job table has no pid).
        job=$(last_triggerer_job)
        spawn_airflow "$c" .venv/bin/airflow triggerer --skip-serve-logs
        wait_for "$c's triggerer job" 120 new_triggerer_job "$job"
        last_triggerer_job >"$PIDS/$c.job"
        ;;
      *) spawn_airflow "$c" .venv/bin/airflow "$kind" ;;
    esac
  done
  wait_for "Airflow health (api-server, scheduler, dag-processor, triggerer)" 240 airflow_health
  for c in $fresh; do
    case $c in worker-*) wait_for "$c (celery 'ready.')" 120 worker_ready "$c" ;; esac
  done
}

cmd_up() {
  local t0=$SECONDS
  ensure_packages
  ensure_venv
  ensure_settings
  load_settings
  start_postgres
  start_redis
  start_emulator
  start_airflow
  log "up in $((SECONDS - t0))s (logs: $LOGS)"
  echo "api=$API_URL"
  echo "emulator=$EMULATOR_URL"
}

cmd_pg_restart() {  # a real PostgreSQL restart under the running stack (the chaos run uses it)
  load_settings
  local dir
  dir=$(cat "$STACK/postgres.dir")
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 restart >/dev/null
  head -1 "$dir/data/postmaster.pid" >"$PIDS/postgres-1.pid"
  log "PostgreSQL restarted (pid $(pid_of postgres-1))"
}

cmd_down() {
  local c
  for c in $(echo "$AIRFLOW_COMPONENTS" | tr ' ' '\n' | tac); do stop_group "$c" 20; done
  stop_group emulator-1 10
  stop_group redis-1 10
  stop_postgres
  log "down"
}

cmd_status() {
  local c
  for c in postgres-1 redis-1 emulator-1 $AIRFLOW_COMPONENTS; do
    if alive "$c"; then echo "$c alive pid=$(pid_of "$c")"; else echo "$c down"; fi
  done
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  pg-restart) cmd_pg_restart ;;
  clean)
    cmd_down
    if [ -f "$STACK/postgres.dir" ]; then rm -rf "$(cat "$STACK/postgres.dir")"; fi
    rm -rf "$STACK"
    ;;
  *) echo "usage: bash scripts/stack.sh up|down|status|clean" >&2; exit 2 ;;
esac
