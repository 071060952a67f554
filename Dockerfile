# qbittorrent-monitor's container image.
# BASE is the official Python image; the test suite builds the same file on a local Debian base (tests/image).
ARG BASE=python:3.12-slim-bookworm

# Build: a virtualenv at /app with the project installed by the same `pip install .` the README gives, from wheels
# only. First every dependency becomes a wheel in /wheels: the index's own where it has one for this platform, else
# built here from its sdist. That is PyYAML on armv7 (no armv7l wheel), built as its pure-Python fallback
# (PYYAML_FORCE_LIBYAML=0: no compiler, no libyaml, nothing more at run time); `python scripts/check_wheels.py`
# lists every dependency per platform and fails on one that would need a compiler. FROM_SOURCE (pip's --no-binary)
# lets the image test build the armv7 way on any machine. The build tools pip fetches (setuptools, wheel, Cython)
# and the source tree stay in this stage.
FROM ${BASE} AS build
ARG FROM_SOURCE=:none:
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python3 -m venv /app \
    && PYYAML_FORCE_LIBYAML=0 /app/bin/pip wheel --no-cache-dir --disable-pip-version-check \
        --no-binary "${FROM_SOURCE}" --wheel-dir /wheels . \
    && /app/bin/pip install --no-cache-dir --disable-pip-version-check \
        --no-index --only-binary :all: --find-links /wheels qbittorrent-monitor \
    && /app/bin/pip uninstall --yes --disable-pip-version-check pip

# Runtime: the base plus that virtualenv, the entrypoint and the old monitor's entry point.
FROM ${BASE}
COPY --from=build /app /app
COPY container/entrypoint.sh /entrypoint.sh
COPY container/qbittorrent-monitor /usr/local/bin/qbittorrent-monitor
COPY container/qbittorrent-monitor.py /app/qbittorrent-monitor.py
# `--config /app/config/config.yaml` (the old monitor's path) reads the configuration in the volume.
RUN chmod 0755 /entrypoint.sh /usr/local/bin/qbittorrent-monitor /app/qbittorrent-monitor.py \
    && ln -s /config/config /app/config \
    && mkdir -p /config
ENV DATA_DIR=/config \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# config/ (config.yaml, discovered_services.json), logs/ and the state database.
VOLUME ["/config"]
# /health (and the dashboard) of the long-running monitor.
EXPOSE 8080
# The monitor's own check: every configured service reachable and authenticated (as PUID, like the monitor).
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 CMD ["qbittorrent-monitor", "--health-check"]
# Starts as root only to apply UMASK/TZ and give /config to PUID:PGID, then runs the monitor as that user.
ENTRYPOINT ["/entrypoint.sh"]
CMD ["/app/bin/qbittorrent-monitor"]
