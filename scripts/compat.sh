#!/usr/bin/env bash
# The version matrix: the compat subset (tests/compat + the model, hook and provider-info suites)
# in one venv per cell (Airflow version x Python version x resolution), built with uv.
#
# usage: bash scripts/compat.sh [CELL...]     CELL as printed, e.g. airflow3.1.8-py3.10-lowest-direct
#
# Venvs are cached under ~/.cache/airflow-provider-kling/compat/<cell>-<key>, key = hash of
# pyproject.toml, the cell and the tool versions; a cached venv is reused when its build finished
# and its interpreter still imports Airflow. The provider itself is reinstalled (not editable) into
# it on every run, so the cached dependencies never test stale provider code. An Airflow version
# that breaks with today's newest releases of its own dependencies gets the few caps it needs from
# scripts/compat-constraints/airflow-<version>.txt (Airflow's constraints files are not on PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each Airflow minor and each declared Python at least once (why these pairs:
# docs/development/versions.md). "lowest-direct" installs the lowest version every direct dependency allows: the
# dependency floors declared in pyproject.toml are tested there.
MATRIX=(
  "3.1.8 3.10 lowest-direct"
  "3.1.8 3.13 highest"
  "3.2.2 3.11 highest"
  "3.3.2 3.12 highest"
)
TESTS=(tests/test_provider_info.py tests/api/test_models.py tests/hooks/test_hook.py tests/compat)
TEST_TOOLS=("pytest>=8" "pytest-timeout>=2.3")
UV_VERSION="0.13.9"

CACHE="${KLING_COMPAT_CACHE:-$HOME/.cache/airflow-provider-kling}"
export UV_CACHE_DIR="$CACHE/uv"
export UV_PYTHON_DOWNLOADS=never # only the interpreters on this machine, never a download
UV="$CACHE/tools/bin/uv"

# The filter drops pip's notes about local mirrors this machine does not have.
quiet_pip() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; return "${PIPESTATUS[0]}"; }

ensure_uv() {
  if [ -x "$UV" ] && [ "$("$UV" --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then return; fi
  rm -rf "$CACHE/tools"
  python3 -m venv "$CACHE/tools"
  quiet_pip "$CACHE/tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
}

# The newest installed patch release of Python X.Y: pyenv's, else one on PATH.
find_python() {
  local minor="$1" dir
  dir=$(ls -d "$HOME"/.pyenv/versions/"$minor".* 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/bin/python$minor" ]; then
    echo "$dir/bin/python$minor"
  elif command -v "python$minor" >/dev/null; then
    command -v "python$minor"
  else
    echo "no Python $minor: install it under ~/.pyenv/versions or on PATH" >&2
    return 1
  fi
}

run_cell() {
  local airflow="$1" minor="$2" resolution="$3"
  local cell="airflow$airflow-py$minor-$resolution" python key venv started
  local constraints=(); local pins="scripts/compat-constraints/airflow-$airflow.txt"
  started=$SECONDS
  python=$(find_python "$minor")
  if [ -f "$pins" ]; then constraints=(--constraint "$pins"); fi
  key=$({
    cat pyproject.toml
    if [ -f "$pins" ]; then cat "$pins"; fi
    echo "$cell $("$python" -c 'import platform; print(platform.python_version())') uv $UV_VERSION"
    echo "${TEST_TOOLS[*]}"
  } | sha256sum | cut -c1-16)
  venv="$CACHE/compat/$cell-$key"
  echo "==> $cell ($python)"
  if [ -f "$venv/.build-complete" ] && "$venv/bin/python" -c "import airflow" 2>/dev/null; then
    echo "    cached venv $venv"
  else
    rm -rf "$venv" "$CACHE/compat/$cell"-* # a broken build, or venvs of an older key
    mkdir -p "$CACHE/compat"
    "$UV" venv -q --python "$python" "$venv"
    "$UV" pip install -q --python "$venv/bin/python" --resolution "$resolution" "${constraints[@]}" \
      "apache-airflow==$airflow" . "${TEST_TOOLS[@]}"
    "$UV" pip freeze -q --python "$venv/bin/python" >"$venv/.freeze"
    touch "$venv/.build-complete"
    echo "    built $venv in $((SECONDS - started)) s"
  fi
  "$UV" pip install -q --python "$venv/bin/python" --no-deps --reinstall-package airflow-provider-kling .
  grep -i -E "^(apache-airflow|apache-airflow-providers-http|pydantic|aiohttp|pyjwt|tenacity|requests|fastapi|cadwyn|svcs)==" \
    "$venv/.freeze" | tr '\n' ' ' | sed 's/^/    /'
  echo
  # An explicit -m replaces the default suite's "not compat"; pytest's exit 5 (nothing collected)
  # fails this script like any other failure (set -e).
  KLING_COMPAT_AIRFLOW="$airflow" KLING_COMPAT_PYTHON="$minor" KLING_COMPAT_RESOLUTION="$resolution" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow and not ui and not airflow_stack and not s3 and not packaging" "${TESTS[@]}"
  echo "    $cell: passed in $((SECONDS - started)) s"
}

ensure_uv
selected=("$@")
ran=0
for entry in "${MATRIX[@]}"; do
  read -r airflow minor resolution <<<"$entry"
  cell="airflow$airflow-py$minor-$resolution"
  if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " =~ " $cell " ]]; then continue; fi
  run_cell "$airflow" "$minor" "$resolution"
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
  echo "no matrix cell matched: $*" >&2
  exit 1
fi
echo "==> version matrix: $ran cells passed in $SECONDS s"
