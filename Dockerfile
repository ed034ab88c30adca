# The CCTV monitor: one image for `run`, `demo`, `simulate`, `check` and `probe`.
# Pinned base (a patch release on a Debian release), non-root user, no build tools left.
FROM python:3.11.9-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Metadata first so that a code change does not re-resolve the dependencies' layer.
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install . && rm -rf /src

# A fixed uid so that mounted inventories and password files can be granted to it.
RUN groupadd --system --gid 10001 cctv \
 && useradd --system --uid 10001 --gid cctv --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin cctv \
 && install -d -o cctv -g cctv -m 0750 /var/lib/cctv-monitor
# The outage ledger's home: a volume mounted here starts owned by the monitor's user.
VOLUME /var/lib/cctv-monitor
USER 10001:10001
WORKDIR /tmp

EXPOSE 9877
# Liveness, the way Prometheus' own images are checked: /-/healthy answers 200 while the
# process serves.  Standard library only (the image has no curl or wget).  A monitor
# listening elsewhere sets CCTV_HEALTHCHECK_URL.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('CCTV_HEALTHCHECK_URL', 'http://127.0.0.1:9877/-/healthy'), timeout=3)"]
ENTRYPOINT ["cctv-monitor"]
CMD ["run", "-c", "/etc/cctv/monitor.yml", "--listen", "0.0.0.0:9877", "--ledger", "/var/lib/cctv-monitor/history.sqlite"]
