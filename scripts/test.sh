#!/usr/bin/env bash
# The whole test suite on a fresh machine: system witnesses (GStreamer RTSP server, ffmpeg,
# Prometheus, Alertmanager, Chromium, iproute2, nftables), the venv, then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k rtsp).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  scripts/install-system-deps.sh
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo scripts/install-system-deps.sh
else
  scripts/install-system-deps.sh || echo "warning: some system packages are missing; their tests will be skipped" >&2
fi
scripts/setup-venv.sh
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
