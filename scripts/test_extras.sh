#!/usr/bin/env bash
# The tests that need packages the default .venv does not have, in their own .venv-s3 (reused when
# present): `s3` (moto's S3 server, the Amazon provider with s3fs) and `packaging` (build, uv).
# uv installs them: pip's resolver backtracks for many CPU-minutes on moto's boto3/botocore pins.
# usage: bash scripts/test_extras.sh s3|packaging [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
marker="${1:?usage: scripts/test_extras.sh s3|packaging [pytest args]}"
shift
VENV=.venv-s3
if [ ! -x "$VENV/bin/uv" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check uv 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
fi
echo "==> installing airflow-provider-kling[test,s3], moto[server], build into $VENV (uv)"
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -e ".[test,s3]" "moto[server]>=5" "build[uv]>=1.2"
echo "==> pytest -m $marker"
# No `|| true`: pytest's exit 5 (nothing collected for the marker) fails the step like a failed test.
"$VENV/bin/python" -m pytest -m "$marker" "$@"
