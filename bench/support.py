"""Helpers shared by the benchmark scripts (not a benchmark: run_all.py runs bench_*.py only)."""

from __future__ import annotations

import imaplib
import os
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    """The line every result block starts with: cores, CPU model and the load when the run started."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "unknown CPU",
    )  # fmt: skip
    return f"{os.cpu_count()} cores ({cpu}), load average {os.getloadavg()[0]:.1f} at start"


def ensure_database(url: str, env: dict, *, recreate: bool = False) -> None:
    """Create the benchmark's own database if missing (dropped first with `recreate`), then migrate it."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if recreate:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def use_imap_bench_database() -> str:
    """Point this process at the IMAP benchmark's database (`BENCH_IMAP_DATABASE_URL`, the smoke one by
    default) with the benchmark's settings, before Django is set up; the URL used. For the IMAP helper
    scripts (profile_imap.py, imap_select_fetch.py), which run on the data bench_imap.py prepared."""
    url = os.environ.get(
        "BENCH_IMAP_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mssante_bench_imap_smoke"
    )
    os.environ.update(
        {
            "DATABASE_URL": url,
            "MSSANTE_TESTING": "1",
            "DB_CONN_MAX_AGE": "60",
            "TEST_REDIS_DB": "9",
            "CELERY_QUEUE_PREFIX": "bench-imap-",
            "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("MSSANTE_DEV", None)
    return url


@contextmanager
def bench_pki() -> Iterator[tuple[Any, Any]]:
    """A throw-away CA and a `localhost` server certificate: (CertificateAuthority, Issued). After
    django.setup()."""
    from apps.gateway.pki import CertificateAuthority

    with tempfile.TemporaryDirectory() as tmp:
        ca = CertificateAuthority(Path(tmp) / "ca")
        yield ca, ca.issue_server("imap", "localhost")


@contextmanager
def local_imap(cert: Any, **overrides: Any) -> Iterator[Any]:
    """Our IMAP server (the production code path) on free loopback ports, implicit TLS with `cert`."""
    from apps.imap.server import ImapConfig, ImapServer, tls_context

    config = ImapConfig(
        host="127.0.0.1", port=0, imaps_port=0,
        tls_context=tls_context(str(cert.cert_path), str(cert.key_path)), **overrides,
    )  # fmt: skip
    with ImapServer(config).running() as server:
        yield server


def imap_client(port: int, cafile: str, timeout: float = 600) -> imaplib.IMAP4_SSL:
    """imaplib over TLS to `localhost:port`, trusting the bench CA only."""
    context = ssl.create_default_context(cafile=cafile)
    return imaplib.IMAP4_SSL("localhost", port, ssl_context=context, timeout=timeout)
