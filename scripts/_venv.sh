# Sourced by demo.sh and test.sh: create .venv with python3 and install the provider into it.
# usage: install_venv EXTRAS   (e.g. "media" or "test")
install_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  echo "==> installing airflow-provider-kling[$extras] into .venv (first run: about a minute)"
  # The filter drops pip's notes about local mirrors this machine does not have.
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
