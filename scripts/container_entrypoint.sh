#!/bin/sh
# Entry point of the container image: the first argument picks the process (see Dockerfile, compose.yaml).
# Tunables (environment): WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_TIMEOUT, PORT, CELERY_CONCURRENCY,
# CELERY_QUEUES, LOG_LEVEL. Everything else is read by mssante_web/settings.py (docs/operations.md).
set -eu

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
  web)
    exec gunicorn mssante_web.wsgi:application \
      --bind "0.0.0.0:${PORT:-8000}" \
      --worker-class gthread \
      --workers "${WEB_CONCURRENCY:-2}" \
      --threads "${GUNICORN_THREADS:-4}" \
      --timeout "${GUNICORN_TIMEOUT:-30}" \
      --graceful-timeout 25 \
      --max-requests 2000 --max-requests-jitter 200 \
      --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
      --access-logfile - --error-logfile - \
      "$@"
    ;;
  worker)
    exec celery -A mssante_web worker \
      --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${CELERY_CONCURRENCY:-2}" \
      ${CELERY_QUEUES:+--queues "$CELERY_QUEUES"} \
      --hostname "worker@%h" \
      "$@"
    ;;
  beat)
    # Exactly ONE beat for the whole platform (docs/operations.md): two would run every job twice.
    exec celery -A mssante_web beat \
      --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule "${MSSANTE_VAR_DIR:-/var/lib/mssante}/celerybeat-schedule" \
      "$@"
    ;;
  smtp)
    # Inbound SMTP from other operators (GATEWAY_* settings; GATEWAY_PROCESSES processes share the ports).
    exec python manage.py run_smtp "$@"
    ;;
  submission)
    # SMTP submission for mail clients (SUBMISSION_* settings).
    exec python manage.py run_submission "$@"
    ;;
  imap)
    # IMAP for mail clients and practice software (IMAP_PORT 143 STARTTLS, IMAPS_PORT 993 TLS).
    exec python manage.py run_imap "$@"
    ;;
  migrate)
    exec python manage.py migrate --noinput "$@"
    ;;
  check)
    exec python manage.py check --deploy --fail-level WARNING "$@"
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
