#!/usr/bin/env bash
# Installs the Debian packages that the test suite's real witnesses need: GStreamer's RTSP
# server (a third-party RTSP implementation; gstreamer1.0-x for the placard captions and OSD
# clocks it draws), ffmpeg/ffprobe (a real RTSP client), Prometheus,
# Alertmanager and promtool/amtool, VictoriaMetrics (the long-term store Prometheus
# remote-writes into), headless Chromium for the status page and the report's PDF, iproute2
# and nftables for the command-centre link tests, a font for the captions ffmpeg draws on
# test pictures, PostgreSQL for the shared outage ledger, and poppler-utils (pdftoppm) to
# look at the report's PDF pages, libfaketime (one process's wall clock stepped in the chaos
# test, never the machine's) and openssl (a throwaway CA for the TLS tests).  Idempotent: does
# nothing when all are present.
# Needs root (CI runs as root); without root it says what is missing and exits non-zero.
set -euo pipefail

PACKAGES=(
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-tools gstreamer1.0-x
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  gstreamer1.0-plugins-bad
  ffmpeg fonts-dejavu-core
  prometheus prometheus-alertmanager
  victoria-metrics
  chromium
  iproute2 nftables procps
  postgresql poppler-utils
  faketime openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages to install: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "not root: run $0 as root (or with sudo), or install these packages yourself" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
