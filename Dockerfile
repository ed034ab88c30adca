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
            --shell /usr/sbin/nologin cctv
USER 10001:10001
WORKDIR /tmp

EXPOSE 9877
ENTRYPOINT ["cctv-monitor"]
CMD ["run", "-c", "/etc/cctv/monitor.yml", "--listen", "0.0.0.0:9877"]
