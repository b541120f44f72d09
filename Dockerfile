# Rodistaa Core: one image for the API (`rodistaa serve`, the default command), the worker
# (`rodistaa worker`) and migrations (`rodistaa db upgrade`). See docs/deployment.md.
#
# Two stages on the same base image, so the virtual environment built in the first (its
# scripts name /opt/venv/bin/python, a link to the base image's interpreter) runs unchanged in
# the second. Only the environment and the rule bundle reach the final image: no pip, no
# setuptools, no build backend, no compiler (the slim base has none and none is installed).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The pinned dependency set first: a change to the code alone reuses this layer.
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# Every pinned dependency must come as a wheel: a missing wheel fails the build here instead of
# compiling against build tools nobody reviewed. The project itself is built by setuptools.
RUN pip install --only-binary=:all: -c constraints.txt "setuptools>=68" wheel \
    && pip install --only-binary=:all: --no-build-isolation -c constraints.txt . \
    && pip uninstall --yes pip setuptools wheel \
    && python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
# pg_dump/pg_restore of the server's major version, for `rodistaa backup` (runtime tools, not
# build tools; docs/runbooks/backup-restore.md).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
# Fixed ids so volume ownership and Kubernetes' runAsUser agree across rebuilds.
ARG APP_UID=10001
ARG APP_GID=10001
RUN groupadd --system --gid "${APP_GID}" rodistaa \
    && useradd --system --uid "${APP_UID}" --gid "${APP_GID}" --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin rodistaa
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY rules ./rules
# The only place the process writes (development SQLite and key file, local file storage);
# everything else may be mounted read-only. Temporary upload spools go to /tmp.
RUN mkdir -p /app/var/storage && chown -R "${APP_UID}:${APP_GID}" /app/var
VOLUME ["/app/var"]
# ENV=production: a container started without real secrets refuses to start, naming each one.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENV=production \
    ACS_BUNDLE_PATH=/app/rules \
    STORAGE_LOCAL_DIR=/app/var/storage
USER ${APP_UID}:${APP_GID}
EXPOSE 8000
# Liveness only (/health touches nothing); readiness (/ready) is the orchestrator's business.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["rodistaa", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
