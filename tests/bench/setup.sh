#!/usr/bin/env bash
# Installs what the benchmarks compare against: Debian's blackbox_exporter (the canonical
# prober) and py-spy for profiles.  Root needed for apt; benchmarks are not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-system-deps.sh
if ! command -v prometheus-blackbox-exporter >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends prometheus-blackbox-exporter
  # Debian starts it as a service on :9115; the benchmark runs its own instance.
  (systemctl stop prometheus-blackbox-exporter 2>/dev/null || service prometheus-blackbox-exporter stop 2>/dev/null || true)
fi
scripts/setup-venv.sh
.venv/bin/python -m pip install -q py-spy pyinstrument
