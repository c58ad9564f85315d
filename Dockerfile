# One image for every process of the platform; the command picks the role:
#   web | worker | beat | smtp | submission | migrate | check | manage <command ...>
# Build:  docker build -t mssante-web .
# Run:    see compose.yaml and docs/operations.md (section « Exécution en production »).
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MSSANTE_VAR_DIR=/var/lib/mssante

# Runtime libraries only: psycopg, cryptography and nh3 ship manylinux wheels with their own libssl/libpq.
# gnupg and postgresql-client (15, bookworm's, the server's major version) for backups (apps/backup).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini gnupg postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mssante \
    && useradd --system --uid 10001 --gid mssante --home-dir /app --shell /usr/sbin/nologin mssante

WORKDIR /app

# Dependencies first (cached layer): only a change of the lock invalidates it. The runtime lock (no dev tools:
# tests, linters, Playwright), every package pinned and every file checked against its hash; pip refuses a
# file whose hash differs and any package the lock does not name. pip itself is the base image's: an
# unpinned `pip install --upgrade pip` would be the one unhashed download of the build.
COPY requirements/runtime.txt requirements/runtime.txt
RUN python -m pip install --require-hashes -r requirements/runtime.txt \
    && python -m pip check

COPY . .
# Static files are collected at build time (whitenoise serves them, hashed and compressed). The values below
# exist only so that production settings load during the build; none reaches the running container.
RUN SECRET_KEY=build-only-not-a-secret DATABASE_URL=postgres://build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 ALLOWED_HOSTS=build MSS_NIL=build-only \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p "$MSSANTE_VAR_DIR" && chown mssante:mssante "$MSSANTE_VAR_DIR" \
    && chmod 0755 scripts/container_entrypoint.sh

USER mssante
EXPOSE 8000
VOLUME ["/var/lib/mssante"]
# tini reaps zombies and forwards SIGTERM, so `docker stop` gives gunicorn and Celery a warm shutdown.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/scripts/container_entrypoint.sh"]
CMD ["web"]
