#!/usr/bin/env bash
# Sets up the venv and runs the demo: a simulated Jakarta fleet (3,517 cameras) and the
# monitor against it.  Needs only Python 3.11+.  Extra arguments go to `cctv-monitor demo`
# (e.g. --duration 60, --cameras 500, --listen 127.0.0.1:9877).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
exec .venv/bin/cctv-monitor demo "$@"
