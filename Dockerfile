# syntax=docker/dockerfile:1
# Surge: one image for api, redirect and analytics. The command picks what runs:
#   docker run IMAGE                                   all three in one process on :8000 (SQLite)
#   docker run IMAGE serve --service redirect --host 0.0.0.0 --port 8002
#   docker run IMAGE migrate | maintain | keys create --name NAME
# On a non-loopback bind, `surge serve` refuses the published default secrets: pass
# SURGE_INTERNAL_TOKEN and SURGE_VISITOR_SALT_SECRET (or their _FILE variants).
# Checked by hadolint (tests/deploy/test_image.py), built and run by tests/deploy/test_container.py
# (podman); built and pushed by .github/workflows/ci.yml.

# The two base images: a tag each, and its digest ("@sha256:...", empty: the tag alone). CI
# resolves each tag to its digest before it builds and passes it here (.github/workflows/ci.yml,
# "Base images by digest"), so a pushed image is made of exactly the bases its label names. A
# digest committed as the default is kept by CI as it is.
ARG PYTHON_TAG=3.11-slim-bookworm
ARG PYTHON_DIGEST=
ARG UV_TAG=0.13.9
ARG UV_DIGEST=

FROM ghcr.io/astral-sh/uv:${UV_TAG}${UV_DIGEST} AS uv

# --- build: the locked dependencies, then Surge itself, into /opt/surge ------------------------
FROM python:${PYTHON_TAG}${PYTHON_DIGEST} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/surge
WORKDIR /src
# Dependencies from uv.lock alone: this layer is rebuilt only when the lockfile changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY src ./src
COPY migrations ./migrations
# Surge as a regular (not editable) package; the Alembic scripts go inside it, where
# surge.platform.migrations looks first (surge/_migrations).
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
 && package="$(/opt/surge/bin/python -c 'import pathlib, surge; print(pathlib.Path(surge.__file__).parent)')" \
 && cp -r migrations "${package}/_migrations" \
 && /opt/surge/bin/python -m compileall -q "${package}/_migrations" \
 && /opt/surge/bin/surge --version

# --- runtime: the interpreter, the environment, a non-root user; no build tools ----------------
FROM python:${PYTHON_TAG}${PYTHON_DIGEST} AS runtime
ARG PYTHON_TAG
ARG PYTHON_DIGEST
ARG SURGE_BUILD_COMMIT=unknown
ARG SURGE_VERSION=0.1.0
ARG SURGE_SOURCE=""
LABEL org.opencontainers.image.title="surge" \
      org.opencontainers.image.description="Self-hosted short links and click analytics: api, redirect and analytics in one image" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${SURGE_VERSION}" \
      org.opencontainers.image.revision="${SURGE_BUILD_COMMIT}" \
      org.opencontainers.image.source="${SURGE_SOURCE}" \
      org.opencontainers.image.base.name="python:${PYTHON_TAG}${PYTHON_DIGEST}"

# /var/lib/surge is 1777 as well as surge's: a tmpfs mounted over it (`--tmpfs /var/lib/surge`)
# takes this directory's mode but root as its owner, and must stay writable for uid 10001 (as
# Kubernetes' emptyDir is, 0777).
RUN groupadd --system --gid 10001 surge \
 && useradd --system --uid 10001 --gid surge --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin surge \
 && mkdir -p /var/lib/surge/spool \
 && chown -R surge:surge /var/lib/surge \
 && chmod 1777 /var/lib/surge

# Owned by root: the code cannot be changed by the process that runs it.
COPY --from=build /opt/surge /opt/surge

ENV PATH=/opt/surge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SURGE_BUILD_COMMIT=${SURGE_BUILD_COMMIT} \
    SURGE_DATABASE_URL=sqlite+aiosqlite:////var/lib/surge/surge.db \
    SURGE_SPOOL_DIR=/var/lib/surge/spool \
    SURGE_HEALTHCHECK_URL=http://127.0.0.1:8000/healthz

WORKDIR /var/lib/surge
USER 10001:10001
EXPOSE 8000 8001 8002 8003

# The default command's port; a container serving one service sets SURGE_HEALTHCHECK_URL to its
# own port (compose.yaml sets a healthcheck per service; Kubernetes uses its probes instead).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SURGE_HEALTHCHECK_URL'], timeout=2)"]

ENTRYPOINT ["surge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
