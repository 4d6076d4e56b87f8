# The supervisor image. Built by compose from the rendered stack (build: context is the repository), with
# BuildKit or the classic builder alike. Two stages: the first installs the project into a virtualenv, the
# second is the slim Python image with that virtualenv and nothing that builds (no pip, no setuptools).
#
# It starts as root only for scripts/supervisor-entrypoint.sh, which gives the unprivileged user `ace`
# (uid 10001) the group of the mounted Docker socket and drops to it (docs/DEPLOY.md, "The supervisor image").
#   docker build --build-arg REVISION=$(git rev-parse --short HEAD) -t acestream-orchestrator-supervisor .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY generator ./generator
COPY supervisor ./supervisor
COPY templates ./templates
COPY profiles ./profiles
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

FROM ${PYTHON_IMAGE}
# The image's version: tests/gen/test_image.py keeps it equal to pyproject.toml's.
ARG VERSION=0.1.0
# The source revision (git), shown in the start-up line and the build_info metric; empty when not given.
ARG REVISION=
LABEL org.opencontainers.image.title="acestream-orchestrator supervisor" \
      org.opencontainers.image.description="Creates AceStream engine containers on demand and serves the API proxies such as acexy speak" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 ace \
 && useradd --system --uid 10001 --gid ace --create-home --home-dir /home/ace --shell /usr/sbin/nologin ace \
 && mkdir -p /data \
 && chown ace:ace /data
COPY --from=build /opt/venv /opt/venv
COPY scripts/supervisor-entrypoint.sh /usr/local/bin/ace-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ACE_SUPERVISOR_REVISION=${REVISION}
EXPOSE 8000
# `ace-supervisor healthcheck` asks the supervisor's own /health (Python's urllib: the image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["ace-supervisor", "healthcheck"]
ENTRYPOINT ["/bin/sh", "/usr/local/bin/ace-entrypoint"]
CMD ["ace-supervisor", "serve"]
