#!/usr/bin/env bash
# Creates .venv with the package and its test extras.  Idempotent.  pip's chatter (build
# backend notices) goes to .venv/setup.log and is shown only when the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
log=.venv/setup.log
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[test]'; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup-venv: pip install failed (log above, also in $log)" >&2
  exit 1
fi
