"""Settings of the MSSanté operator platform: one module, driven by the environment.

Profiles:
- `make run` sets MSSANTE_DEV=1: DEBUG, SQLite and in-process tasks unless DATABASE_URL / REDIS_URL are set.
- tests (pytest) run on PostgreSQL at DATABASE_URL (default local) and Redis at REDIS_URL.
- production: MSSANTE_DEV unset, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, MASTER_KEY, MSS_NIL
  required.
Every variable is listed in README.md (section "Production").
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from mssante_web.env import env, env_bool, env_int, env_list, parse_database_url, without_jit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("MSSANTE_VAR_DIR", str(BASE_DIR / "var")) or BASE_DIR / "var")

DEV = env_bool("MSSANTE_DEV", False)
TESTING = "pytest" in sys.modules or env_bool("MSSANTE_TESTING", False)
# DEBUG is only ever on under `make run`; production refuses to start with it.
DEBUG = DEV and env_bool("DEBUG", True)

_INSECURE_DEV_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = env("SECRET_KEY") or (_INSECURE_DEV_KEY if (DEV or TESTING) else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY (or SECRET_KEY_FILE) must be set outside `make run` and tests")


def _master_key_source() -> dict[str, str | None]:
    """Master keys for apps.crypto.keys, read when the key ring is (re)loaded, not when settings load: a
    rotation adds MASTER_KEYS and reloads the ring (docs/decisions/0007-encryption-at-rest.md)."""
    return {"MASTER_KEYS": env("MASTER_KEYS"), "MASTER_KEY": env("MASTER_KEY")}


MASTER_KEY_SOURCE = _master_key_source
# Secrets an app reads only when it needs them (a backup key passphrase, the master keys of a drill):
# `settings.SECRET_READER(name)` reads NAME or the file named by NAME_FILE; apps never read the environment.
SECRET_READER = env

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if (DEV or TESTING) else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Operator identity: the mail domains this platform hosts, and its public name.
OPERATOR_NAME = env("OPERATOR_NAME", "Opérateur MSSanté de démonstration")
# Where users get help (shown on the password-reset and error pages): an address or a phone number.
SUPPORT_CONTACT = env("SUPPORT_CONTACT", "support@demo.mssante.fr" if DEV or TESTING else "")
# Our own French page for a refused form (Django's default is English).
CSRF_FAILURE_VIEW = "mssante_web.errors.csrf_failure"
OPERATOR_DOMAINS = env_list("OPERATOR_DOMAINS", ["demo.mssante.fr", "chu-demo.mssante.fr"])
PATIENT_DOMAIN = env("PATIENT_DOMAIN", "patient.mssante.fr")
# Whether this platform hosts the patient domain's inboxes itself (else it is a remote operator, e.g. MES).
PATIENT_DOMAIN_HOSTED = env_bool("PATIENT_DOMAIN_HOSTED", True)
# Messages: encrypted blob store (raw MIME, attachments) and the limit on a message's encoded size.
MESSAGE_STORE_DIR = Path(
    env("MESSAGE_STORE_DIR", "")
    or (
        Path(tempfile.gettempdir())
        / f"mssante-test-messages-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getuid()}"
        if TESTING
        else VAR_DIR / "messages"
    )
)
MESSAGE_MAX_BYTES = env_int("MESSAGE_MAX_BYTES", 25 * 1024 * 1024)
# Encrypted blobs up to this size are rows committed with the message (one WAL flush); larger ones are
# files in MESSAGE_STORE_DIR (docs/decisions/0014-delivery-hot-path.md). 0: every blob a file.
MESSAGE_INLINE_MAX_BYTES = env_int("MESSAGE_INLINE_MAX_BYTES", 512 * 1024)
# X-MSS-NIL: product reference (convergence.esante.gouv.fr), emitted on every message (Ref#2 ECO.2.4.3);
# required in production (below), a clearly fake value under `make run` (scripts/devrun.py).
MSS_NIL = env("MSS_NIL", "") or ""
# Deliveries left queued/sending longer than this are re-queued by the sweeper (seconds).
DELIVERY_STUCK_AFTER = env_int("DELIVERY_STUCK_AFTER", 120)
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 12)
# Local deliveries claimed and deposited per transaction by the batch depositor (messaging.services_batch).
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 64)
# After a batch smaller than DELIVERY_BATCH_SIZE, the depositor waits this long before claiming again, so
# a steady stream of submissions is deposited in batches rather than one task run per message.
DELIVERY_BATCH_LINGER_MS = env_int("DELIVERY_BATCH_LINGER_MS", 250)
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # allauth's security-key list (mfa/webauthn) uses it
    "django.contrib.postgres",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "mssante_web",
    "apps.accounts",
    "apps.audit",
    "apps.annuaire",
    "apps.trust",
    "apps.mailboxes",
    "apps.messaging",
    "apps.patients",
    "apps.gateway",
    "apps.backup",
    "apps.imap",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mssante_web.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.accounts.middleware.MfaRequiredMiddleware",
    "apps.patients.middleware.PatientSeparationMiddleware",
]

ROOT_URLCONF = "mssante_web.urls"
WSGI_APPLICATION = "mssante_web.wsgi.application"
ASGI_APPLICATION = "mssante_web.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mssante_web.context_processors.platform",
                "apps.mailboxes.context_processors.mailboxes",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
_default_db_url = (
    "postgres://postgres@127.0.0.1:5432/mssante" if TESTING else f"sqlite:///{VAR_DIR / 'dev.sqlite3'}"
)
DATABASE_URL = env("DATABASE_URL", _default_db_url) or _default_db_url
DATABASES = {"default": parse_database_url(DATABASE_URL, BASE_DIR)}
# Persistent connections are bounded by the server's fixed threads in production (gunicorn). Under `make run`
# the dev server starts a thread per request: a persistent connection per thread would outlive it (41 idle
# connections after ten minutes, then "too many clients"), so connections close after each request there.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 0 if (TESTING or DEV) else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the dev server and in-process tasks read while one writes.
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20}
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if IS_POSTGRES:
    # No JIT compilation (ADR 0027): every query here is short, and PostgreSQL decides to compile on cost
    # estimates, which stale statistics inflate (a 5-row folder table read as 1,185 rows after bulk
    # updates): the poll's one query then spent 6 to 90 ms compiling for 0.3 ms of work.
    DATABASES["default"] = without_jit(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ---------------------------------------------------------------------------
# Each pytest-xdist worker gets its own Redis database and queue names so parallel tests never steal each
# other's tasks: db TEST_REDIS_DB + n for worker gwN (TEST_REDIS_DB defaults to 1; db 0 is left to
# `make run`).
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
_default_redis = "redis://127.0.0.1:6379/0" if TESTING else None
REDIS_URL = env("REDIS_URL", _default_redis)
if TESTING and REDIS_URL:
    _worker_number = int(_xdist.removeprefix("gw")) if _xdist.startswith("gw") else 0
    _db_index = (env_int("TEST_REDIS_DB", 1) + _worker_number) % 16
    REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + f"/{_db_index}"
QUEUE_PREFIX = (env("CELERY_QUEUE_PREFIX", "") or "") + (f"test-{_xdist or 'main'}-" if TESTING else "")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"mssante-{QUEUE_PREFIX}",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = f"{QUEUE_PREFIX}default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task not acknowledged within this time is redelivered (acks_late + worker lost).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "global_keyprefix": QUEUE_PREFIX,
}
# Workers keep their database connection between tasks (Celery's Django fixup closes it otherwise); not
# under tests, whose in-process worker threads must not hold connections across test-database flushes.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 0 if TESTING else 1000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Europe/Paris"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Periodic jobs; each app adds its own entries below (the beat process is the only scheduler).
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "audit-seal": {
        "task": "apps.audit.tasks.seal_events",
        "schedule": env_int("AUDIT_SEAL_EVERY_SECONDS", 10),
    },
    "trust-liste-blanche-refresh": {
        "task": "apps.trust.tasks.import_liste_blanche",
        "schedule": env_int("LISTE_BLANCHE_REFRESH_EVERY_SECONDS", 24 * 3600),
    },
}

CELERY_BEAT_SCHEDULE["messaging-sweep-deliveries"] = {
    "task": "apps.messaging.tasks.sweep_deliveries",
    "schedule": env_int("DELIVERY_SWEEP_EVERY_SECONDS", 30),
}
CELERY_BEAT_SCHEDULE["messaging-purge-orphans"] = {
    "task": "apps.messaging.tasks.purge_orphan_messages",
    "schedule": 3600,
}
# Blob files no row names (a crash between a blob's write and its row's commit) are removed once older than
# this: longer than the longest backup (apps/messaging/store/blob_collector.py).
BLOB_GRACE_HOURS = env_int("BLOB_GRACE_HOURS", 24)
CELERY_BEAT_SCHEDULE["messaging-collect-orphan-blobs"] = {
    "task": "apps.messaging.tasks.collect_orphan_blobs",
    "schedule": 3600,
}
# IMAP SEARCH of a word in nearly every copy of a large folder (apps/messaging/store/dense_tokens.py).
SEARCH_DENSE_MIN_COPIES = env_int("SEARCH_DENSE_MIN_COPIES", 50_000)
CELERY_BEAT_SCHEDULE["messaging-dense-tokens"] = {
    "task": "apps.messaging.tasks.index_dense_tokens",
    "schedule": env_int("SEARCH_DENSE_EVERY_SECONDS", 24 * 3600),
}
# MSS-C: "vous avez un nouveau message" to patients, outside the trust space (apps/patients/notices.py).
CELERY_BEAT_SCHEDULE["patients-new-message-notices"] = {
    "task": "apps.patients.tasks.notify_patients",
    "schedule": env_int("PATIENT_NOTICE_EVERY_SECONDS", 60),
}

# --- Applicative API (apps/messaging/api; docs/decisions/0013-applicative-api.md) ---------------------------
API_RATE_PER_MINUTE = env_int("API_RATE_PER_MINUTE", 120)
API_JSON_MAX_BYTES = env_int("API_JSON_MAX_BYTES", 10 * 1024 * 1024)
# Client certificates are verified by the reverse proxy, which passes the DN in this header (empty = off),
# trusted only from these proxy addresses; API_CLIENT_CERTS maps "<credential prefix> <DN>", one per line.
API_CLIENT_CERT_HEADER = env("API_CLIENT_CERT_HEADER", "") or ""
API_CLIENT_CERT_VERIFY_HEADER = (
    env("API_CLIENT_CERT_VERIFY_HEADER", "X-SSL-Client-Verify") or "X-SSL-Client-Verify"
)
API_TRUSTED_PROXIES = env_list("API_TRUSTED_PROXIES", [])
API_CLIENT_CERTS = [line.strip() for line in (env("API_CLIENT_CERTS", "") or "").splitlines() if line.strip()]

# --- Annuaire Santé (apps/annuaire) --------------------------------------------------------------------
# Extraction files (paths or https URLs, comma-separated: e.g. the MSSanté and PS_LibreAcces extractions)
# imported daily by the beat job; empty = the job does nothing.
ANNUAIRE_IMPORT_SOURCE = env_list("ANNUAIRE_IMPORT_SOURCE", [])
ANNUAIRE_IMPORT_BATCH_SIZE = env_int("ANNUAIRE_IMPORT_BATCH_SIZE", 20000)
# Directory queries per user per minute (scraping the annuaire is a real threat).
ANNUAIRE_SEARCH_RATE_PER_MINUTE = env_int("ANNUAIRE_SEARCH_RATE_PER_MINUTE", 120)
ANNUAIRE_PAGE_SIZE = env_int("ANNUAIRE_PAGE_SIZE", 20)


def _annuaire_import_schedule():  # the extraction is published daily around 06:00
    from celery.schedules import crontab

    return crontab(hour=env_int("ANNUAIRE_IMPORT_HOUR", 7), minute=15)


CELERY_BEAT_SCHEDULE["annuaire-daily-import"] = {
    "task": "apps.annuaire.tasks.import_annuaire_sources",
    "schedule": _annuaire_import_schedule(),
}

# --- BAL operations (apps/mailboxes; docs/decisions/0012-mailbox-lifecycle.md) -------------------------
# Quota of a BAL without its own (bytes); warnings at 80 % and 95 %, refusal (bounce) when full.
MAILBOX_DEFAULT_QUOTA_BYTES = env_int("MAILBOX_DEFAULT_QUOTA_BYTES", 5 * 1024**3)
# How long the opposition link of an inactivity notice stays valid (days; the notice precedes the
# deletion by at least two months).
MAILBOX_INACTIVITY_LINK_DAYS = env_int("MAILBOX_INACTIVITY_LINK_DAYS", 120)


def _mailbox_schedule(**fields: int):  # local time (CELERY_TIMEZONE)
    from celery.schedules import crontab

    return crontab(hour=env_int("MAILBOX_JOBS_HOUR", 4), **fields)  # type: ignore[arg-type]


CELERY_BEAT_SCHEDULE["mailboxes-daily-lifecycle"] = {
    "task": "apps.mailboxes.tasks.run_mailbox_lifecycle",
    "schedule": _mailbox_schedule(minute=30),
}
CELERY_BEAT_SCHEDULE["mailboxes-monthly-indicators"] = {
    "task": "apps.mailboxes.tasks.snapshot_monthly_indicators",
    "schedule": _mailbox_schedule(minute=45, day_of_month=1),
}

# --- Liste blanche (apps/trust; docs/decisions/0004-liste-blanche.md) ---------------------------------
LISTE_BLANCHE_URL = env("LISTE_BLANCHE_URL", "https://espacedeconfiance.mssante.fr/listeblanchemssante.xml")
LISTE_BLANCHE_CHECKSUM_URL = env("LISTE_BLANCHE_CHECKSUM_URL", "")  # ANS `checksum` file (SHA-256), optional
LISTE_BLANCHE_CA_FILE = env(
    "LISTE_BLANCHE_CA_FILE", ""
)  # PEM of the IGC-Santé chain ANS serves the list with
LISTE_BLANCHE_MAX_DROP_RATIO = float(env("LISTE_BLANCHE_MAX_DROP_RATIO", "0.20") or 0.20)
LISTE_BLANCHE_MAX_BYTES = env_int("LISTE_BLANCHE_MAX_BYTES", 64 * 1024 * 1024)
LISTE_BLANCHE_TIMEOUT = env_int("LISTE_BLANCHE_TIMEOUT", 60)
# Per-process cache of the trusted domains; off under tests, whose rollbacks no cache version can see.
LISTE_BLANCHE_PROCESS_CACHE = env_bool("LISTE_BLANCHE_PROCESS_CACHE", not TESTING)

# --- Certificate revocation and inventory (apps/trust: crl.py, revocation.py; ADR 0018) -----------------
# CRLs are fetched from the distribution points of the CA certificates (GATEWAY_CA_FILES,
# GATEWAY_OUTBOUND_CA_FILES and these extra CA files: e.g. the CAs of the API's client certificates), of our
# own certificates and of the peer certificates seen, plus these extra URLs or files (comma-separated).
CRL_CA_FILES = env_list("CRL_CA_FILES", [])
CRL_EXTRA_SOURCES = env_list("CRL_EXTRA_SOURCES", [])
CRL_FETCH_TIMEOUT = env_int("CRL_FETCH_TIMEOUT", 30)
CRL_MAX_BYTES = env_int("CRL_MAX_BYTES", 64 * 1024 * 1024)
# Past a CRL's nextUpdate: accept the certificates it does not list (False, soft fail) or refuse every
# certificate of that CA with a temporary error (True).
CRL_HARD_FAIL = env_bool("CRL_HARD_FAIL", False)
# Per-process sets of revoked serials, reloaded when a new CRL is stored; off under tests (rollbacks).
CRL_PROCESS_CACHE = env_bool("CRL_PROCESS_CACHE", not TESTING)
# A peer certificate's "last seen" is written at most this often per process (seconds).
CERT_INVENTORY_TOUCH_SECONDS = env_int("CERT_INVENTORY_TOUCH_SECONDS", 0 if TESTING else 300)
CELERY_BEAT_SCHEDULE["trust-crl-refresh"] = {
    "task": "apps.trust.tasks.refresh_crls",
    "schedule": env_int("CRL_REFRESH_EVERY_SECONDS", 3600),
}
CELERY_BEAT_SCHEDULE["trust-crl-stale-alert"] = {
    "task": "apps.trust.tasks.alert_stale_crls",
    "schedule": 3600,
}
CELERY_BEAT_SCHEDULE["trust-own-certificates"] = {
    "task": "apps.trust.tasks.warn_own_certificates",
    "schedule": 24 * 3600,
}
# Outbound certificate policy (apps/gateway/outbound_tls.py): the remote server's certificate must carry
# these extended key usages (server and client authentication: operators use one certificate both ways),
# these key usages, and a certificate policy equal to or under one of these OIDs (1.2.250.1.71: the ANS
# arc of the IGC-Santé policies; put the exact "Élémentaire Organisations" server policy OIDs here).
GATEWAY_OUTBOUND_EXTENDED_KEY_USAGES = env_list(
    "GATEWAY_OUTBOUND_EXTENDED_KEY_USAGES", ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]
)
GATEWAY_OUTBOUND_KEY_USAGES = env_list("GATEWAY_OUTBOUND_KEY_USAGES", ["digital_signature"])
GATEWAY_OUTBOUND_POLICY_OIDS = env_list("GATEWAY_OUTBOUND_POLICY_OIDS", ["1.2.250.1.71"])
# The PEM of the API client certificate as the proxy forwards it, URL-escaped
# (nginx $ssl_client_escaped_cert), so that the API can check its revocation.
API_CLIENT_CERT_PEM_HEADER = env("API_CLIENT_CERT_PEM_HEADER", "X-SSL-Client-Cert") or "X-SSL-Client-Cert"

# --- Inbound SMTP gateway (apps/gateway; docs/decisions/0009-smtp-gateway.md) ---------------------------
# Listeners: STARTTLS on GATEWAY_PORT (25 in production), implicit TLS on GATEWAY_SMTPS_PORT (0 = off).
GATEWAY_HOST = env("GATEWAY_HOST", "127.0.0.1" if (DEV or TESTING) else "0.0.0.0")  # noqa: S104
GATEWAY_PORT = env_int("GATEWAY_PORT", 2525 if (DEV or TESTING) else 25)
GATEWAY_SMTPS_PORT = env_int("GATEWAY_SMTPS_PORT", 2465 if DEV else 0)
GATEWAY_HOSTNAME = env("GATEWAY_HOSTNAME", "")  # FQDN in the greeting; empty = the machine's FQDN
# Our IGC-Santé server certificate (also presented as client certificate by outbound deliveries).
GATEWAY_CERT_FILE = env("GATEWAY_CERT_FILE", "")
GATEWAY_KEY_FILE = env("GATEWAY_KEY_FILE", "")
# PEM bundles of the CAs whose client certificates are accepted (the IGC-Santé chain in production).
GATEWAY_CA_FILES = env_list("GATEWAY_CA_FILES", [])
# Spooled messages up to this size keep their ciphertext in the spool row: the commit is their only fsync.
GATEWAY_SPOOL_INLINE_BYTES = env_int("GATEWAY_SPOOL_INLINE_BYTES", 512 * 1024)
# Seconds an accepted MAIL FROM / RCPT TO decision is reused per gateway process (refusals never are);
# unset: 1 s with the per-process liste blanche snapshot (production), else 0 (ADR 0009).
if env("GATEWAY_DECISION_REUSE_SECONDS", ""):
    GATEWAY_DECISION_REUSE_SECONDS = float(env("GATEWAY_DECISION_REUSE_SECONDS", "0") or 0)
# Outbound to other operators: routing table ("domain=host:port", "*" = smarthost) before MX lookups; the
# remote's certificate is verified against GATEWAY_OUTBOUND_CA_FILES (default: GATEWAY_CA_FILES).
GATEWAY_ROUTES = env_list("GATEWAY_ROUTES", [])
# S/MIME (apps/gateway/smime): the certificate signing outgoing mail (default: the gateway's) and the CAs
# trusted to verify inbound signatures (default: GATEWAY_CA_FILES).
SMIME_CERT_FILE = env("SMIME_CERT_FILE", "")
SMIME_KEY_FILE = env("SMIME_KEY_FILE", "")
SMIME_CA_FILES = env_list("SMIME_CA_FILES", [])
SMIME_SIGN_OUTBOUND = env_bool("SMIME_SIGN_OUTBOUND", True)
# SMTP submission for mail clients (STARTTLS + AUTH with application passwords or PSC XOAUTH2).
SUBMISSION_HOST = env("SUBMISSION_HOST", "127.0.0.1" if (DEV or TESTING) else "0.0.0.0")  # noqa: S104
SUBMISSION_PORT = env_int("SUBMISSION_PORT", 2587 if (DEV or TESTING) else 587)
SUBMISSION_CERT_FILE = env("SUBMISSION_CERT_FILE", "")
SUBMISSION_KEY_FILE = env("SUBMISSION_KEY_FILE", "")
# What the autoconfig documents and the preferences page tell mail clients (public name and port).
SUBMISSION_PUBLIC_HOST = env("SUBMISSION_PUBLIC_HOST", "")
SUBMISSION_PUBLIC_PORT = env_int("SUBMISSION_PUBLIC_PORT", 2587 if DEV else 587)
# IMAP for mail clients and practice software (apps/imap, `manage.py run_imap`): STARTTLS on IMAP_PORT
# (143 in production), implicit TLS on IMAPS_PORT (993; 0 = off). Certificate: IMAP_CERT_FILE/IMAP_KEY_FILE,
# else the submission's, else the gateway's.
IMAP_HOST = env("IMAP_HOST", "127.0.0.1" if (DEV or TESTING) else "0.0.0.0")  # noqa: S104
IMAP_PORT = env_int("IMAP_PORT", 2143 if (DEV or TESTING) else 143)
IMAPS_PORT = env_int("IMAPS_PORT", 2993 if DEV else (0 if TESTING else 993))
IMAP_CERT_FILE = env("IMAP_CERT_FILE", "")
IMAP_KEY_FILE = env("IMAP_KEY_FILE", "")
IMAP_PUBLIC_HOST = env("IMAP_PUBLIC_HOST", "")  # what autoconfig and DNS records name (default: SUBMISSION's)
IMAP_PUBLIC_PORT = env_int("IMAP_PUBLIC_PORT", 2993 if DEV else 993)
IMAP_DB_THREADS = env_int("IMAP_DB_THREADS", 8)
IMAP_IDLE_TIMEOUT = env_int("IMAP_IDLE_TIMEOUT", 30 * 60)  # RFC 3501 §5.4: at least 30 minutes
IMAP_SESSIONS_PER_USER = env_int("IMAP_SESSIONS_PER_USER", 20)
IMAP_SESSIONS_PER_ADDRESS = env_int("IMAP_SESSIONS_PER_ADDRESS", 50)
# /healthz also checks the IMAP listener at this `host:port` (its STARTTLS port) when set.
HEALTHZ_IMAP = env("HEALTHZ_IMAP", "")
# A PSC access token that is not a JWT has no readable expiry: the session lasts this long (seconds).
PSC_OPAQUE_TOKEN_LIFETIME = env_int("PSC_OPAQUE_TOKEN_LIFETIME", 300)
GATEWAY_OUTBOUND_CA_FILES = env_list("GATEWAY_OUTBOUND_CA_FILES", [])
GATEWAY_OUTBOUND_PORT = env_int("GATEWAY_OUTBOUND_PORT", 25)
GATEWAY_OUTBOUND_TIMEOUT = env_int("GATEWAY_OUTBOUND_TIMEOUT", 60)
GATEWAY_DB_THREADS = env_int("GATEWAY_DB_THREADS", 8)
GATEWAY_PROCESSES = env_int("GATEWAY_PROCESSES", 1)  # processes sharing the ports (SO_REUSEPORT)
GATEWAY_MAX_RECIPIENTS = env_int("GATEWAY_MAX_RECIPIENTS", 100)
GATEWAY_SESSION_TIMEOUT = env_int("GATEWAY_SESSION_TIMEOUT", 300)
# Spool rows still `received` this long after their last enqueue are re-queued by the sweeper (seconds).
GATEWAY_SPOOL_STUCK_AFTER = env_int("GATEWAY_SPOOL_STUCK_AFTER", 120)
GATEWAY_INGEST_MAX_ATTEMPTS = env_int("GATEWAY_INGEST_MAX_ATTEMPTS", 10)
# Ingested spool rows (envelope only, content gone) are deleted this long after their ingest.
GATEWAY_SPOOL_RETENTION_HOURS = env_int("GATEWAY_SPOOL_RETENTION_HOURS", 72)
CELERY_BEAT_SCHEDULE["gateway-spool-purge"] = {
    "task": "apps.gateway.tasks.purge_ingested_spool",
    "schedule": 3600,
}
# A resend (same Message-ID, envelope sender and DATA) is recognised per recipient for this many days.
GATEWAY_DEDUP_DAYS = env_int("GATEWAY_DEDUP_DAYS", 7)
# Spooled messages ingested per transaction (claimed with SKIP LOCKED; ADR 0022).
GATEWAY_INGEST_BATCH_SIZE = env_int("GATEWAY_INGEST_BATCH_SIZE", 64)
# After a batch that was not full, the ingest waits this long before claiming the next one, so that batches
# grow with the load instead of costing a transaction per message or two (ADR 0022). Tests: none.
GATEWAY_INGEST_FILL_MS = env_int("GATEWAY_INGEST_FILL_MS", 0 if TESTING else 200)
CELERY_BEAT_SCHEDULE["gateway-spool-sweep"] = {
    "task": "apps.gateway.tasks.sweep_spool",
    "schedule": env_int("GATEWAY_SWEEP_EVERY_SECONDS", 60),
}

# --- Backups (apps/backup; docs/decisions/0017-backups-openpgp.md) -------------------------------------
# The operator's OpenPGP backup public key (dumps are encrypted to it; its secret half stays off the
# platform) and the platform's own OpenPGP signing key (secret, signs every manifest), ASCII-armoured files.
BACKUP_PUBLIC_KEY_FILE = env("BACKUP_PUBLIC_KEY_FILE", "") or ""
BACKUP_SIGNING_KEY_FILE = env("BACKUP_SIGNING_KEY_FILE", "") or ""
BACKUP_SIGNING_PASSPHRASE = env("BACKUP_SIGNING_PASSPHRASE", "") or ""
# Periodic backups into BACKUP_DIR/mssante-<UTC time>/ (empty: none), keeping the BACKUP_KEEP newest.
BACKUP_DIR = env("BACKUP_DIR", "") or ""
BACKUP_EVERY_HOURS = env_int("BACKUP_EVERY_HOURS", 24)
BACKUP_KEEP = env_int("BACKUP_KEEP", 7)
# The weekly drill restores the newest backup; it needs the backup secret key on the host that runs it.
BACKUP_VERIFY_SECRET_KEY_FILE = env("BACKUP_VERIFY_SECRET_KEY_FILE", "") or ""
BACKUP_VERIFY_SAMPLE = env_int("BACKUP_VERIFY_SAMPLE", 3)
# Blob files whose row is gone are deleted only after this many hours, so a backup running meanwhile still
# finds every blob its dump names (longer than the longest backup; apps.messaging.store.blobs.release_blob).
BLOB_GRACE_HOURS = env_int("BLOB_GRACE_HOURS", 24)
if BACKUP_DIR:
    from celery.schedules import crontab as _crontab

    CELERY_BEAT_SCHEDULE["backup-periodic"] = {
        "task": "apps.backup.tasks.take_periodic_backup",
        "schedule": BACKUP_EVERY_HOURS * 3600,
    }
    CELERY_BEAT_SCHEDULE["backup-weekly-verify"] = {
        "task": "apps.backup.tasks.verify_latest_backup",
        "schedule": _crontab(day_of_week=0, hour=env_int("BACKUP_VERIFY_HOUR", 5), minute=0),
    }

# --- Authentication -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "landing"  # the portal, the last BAL's inbox or the administration
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapters.SocialAccountAdapter"
# Accounts are created by administrators (or by Pro Santé Connect for known professionals), never by
# self-service sign-up: only professionals registered in the annuaire may get a BAL.
ACCOUNT_SIGNUP_ENABLED = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_PREVENT_ENUMERATION = True
# Failed authentications are counted by the platform's one limiter (mssante_lib.ratelimit, through
# apps.accounts.attempts): per login ("key") and per client address ("ip"). The web login and the mail
# clients (SMTP submission, IMAP: application passwords and PSC tokens) have separate budgets.
LOGIN_FAILED_RATE = env("LOGIN_FAILED_RATE", "5/5m/key,20/5m/ip") or "5/5m/key"
APP_PASSWORD_FAILED_RATE = env("APP_PASSWORD_FAILED_RATE", "5/5m/key,20/5m/ip") or "5/5m/key"
ACCOUNT_RATE_LIMITS = {
    # The same rule for allauth's record; the adapter counts with apps.accounts.attempts, not allauth.
    "login_failed": LOGIN_FAILED_RATE,
    "login": "30/m/ip",
    "reauthenticate": "10/m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", "MSSanté") or "MSSanté"
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEV or TESTING
MFA_RECOVERY_CODE_COUNT = 10
# French messages, and users who reach health data may not remove their last TOTP/WebAuthn factor.
MFA_ADAPTER = "apps.accounts.adapters.MFAAdapter"
ACCOUNT_USER_DISPLAY = "apps.accounts.selectors.user_display"
# French labels and one-time-code keyboard hints on phones.
ACCOUNT_FORMS = {"login": "apps.accounts.forms.LoginForm"}
MFA_FORMS = {
    "authenticate": "apps.accounts.forms.AuthenticateForm",
    "activate_totp": "apps.accounts.forms.ActivateTOTPForm",
}

SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
# Pro Santé Connect tokens are never stored (Ref#2 CONF.28): only verified claims stay on the SocialAccount.
SOCIALACCOUNT_STORE_TOKENS = False
# PSC answers /userinfo with a signed JWT, which allauth's generic OpenID Connect provider cannot read:
# apps.accounts.psc.provider.PSCProvider takes its place (same id and URL names) and verifies it. The class is
# registered even without PSC so that the registry, built once at start, is the same in every process.
SOCIALACCOUNT_PROVIDERS: dict[str, dict] = {
    "openid_connect": {
        "provider_class": "apps.accounts.psc.provider.PSCProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [],
    }
}
# messaging's transport beyond the platform (apps/messaging/delivery/transports.py): the SMTP gateway.
MESSAGING_TRANSPORT = "apps.gateway.transport.GatewayTransport"
# The annuaire lookup the PSC login uses (apps.accounts sits below apps.annuaire: the project wires it).
PSC_PROFESSIONAL_LOOKUP = "apps.annuaire.selectors.get_professional_by_national_id"
# PSC_ISSUER: the issuer, or the full discovery URL (PSC: …/.well-known/wallet-openid-configuration).
PSC_ISSUER = env("PSC_ISSUER")
if PSC_ISSUER:
    if not (env("PSC_CLIENT_ID") and env("PSC_CLIENT_SECRET")):
        raise RuntimeError("PSC_ISSUER needs PSC_CLIENT_ID and PSC_CLIENT_SECRET (or PSC_CLIENT_SECRET_FILE)")
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(
        {
            "provider_id": "psc",
            "name": "Pro Santé Connect",
            "client_id": env("PSC_CLIENT_ID", ""),
            "secret": env("PSC_CLIENT_SECRET", ""),
            "settings": {
                "server_url": PSC_ISSUER,
                "auth_params": {"acr_values": env("PSC_ACR_VALUES", "eidas1")},
                "scope": (env("PSC_SCOPE", "openid scope_all") or "openid scope_all").split(),
            },
        }
    )

# --- Sessions and cookies -------------------------------------------------------------------------------
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True  # the cookie age counts from the last request: an idle timeout
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
_secure = not (DEV or TESTING) and env_bool("SECURE_COOKIES", True)
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SESSION_COOKIE_NAME = "__Host-sessionid" if _secure else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if _secure else "csrftoken"

# --- Security headers -----------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = not (DEV or TESTING) and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", True) else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if (DEV or TESTING) else 63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# No inline script anywhere: htmx and our small scripts are served from 'self'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)

# --- Internationalisation -------------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
# Our overrides of third-party French strings (one wording for recovery codes: « codes de secours »).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if (DEV or TESTING)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Mail to the outside world (notices outside the trust space, e.g. inactivity warnings) ---------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEV
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "ne-pas-repondre@demo.mssante.fr")

# --- Audit journal ----------------------------------------------------------------------------------------
# The seal key is separate from SECRET_KEY so that rotating session secrets never breaks the chain.
AUDIT_SEAL_KEY = env("AUDIT_SEAL_KEY") or f"audit-seal:{SECRET_KEY}"
AUDIT_RETENTION_DAYS = max(env_int("AUDIT_RETENTION_DAYS", 365), 183)  # never less than 6 months
AUDIT_UNSEALED_ALERT_SECONDS = env_int("AUDIT_UNSEALED_ALERT_SECONDS", 300)

# --- Health ---------------------------------------------------------------------------------------------
HEALTHZ_WORKER_TIMEOUT = float(env("HEALTHZ_WORKER_TIMEOUT", "1.5") or 1.5)

# --- Logging: no message content, ever; one line per event --------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # pyhanko logs a full traceback at ERROR for every refused S/MIME signature; the gateway logs the
        # verdict itself, so only pyhanko's own failures are kept.
        "pyhanko": {"level": "CRITICAL"},
        "pyhanko_certvalidator": {"level": "CRITICAL"},
    },
}

if not (DEV or TESTING):
    # MSS_NIL: X-MSS-NIL goes on every message (Ref#2 ECO.2.4.3); no product emits mail without it.
    missing = [name for name in ("DATABASE_URL", "REDIS_URL", "MSS_NIL") if not env(name)]
    if missing:
        raise RuntimeError(f"Production settings need {', '.join(missing)} (see README, section Production)")
