"""PostgreSQL for backups: pg_dump and pg_restore of the server's own major version, snapshots,
scratch databases.

Connection details go to the client programs through the environment (PGPASSWORD and friends), never on
their command line, where `ps` would show them. The dump runs inside a snapshot exported from a connection
of our own, so the row counts and the blob names read in that same snapshot describe exactly the dump.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

_LIBPQ_OPTIONS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name"}


class PostgresError(Exception):
    """pg_dump/pg_restore missing, of the wrong version, or failing; the message says which."""


def db_settings(name: str | None = None) -> dict[str, Any]:
    config = dict(settings.DATABASES["default"])
    if not config["ENGINE"].endswith("postgresql"):
        raise PostgresError("backups need PostgreSQL (DATABASE_URL is not a postgres:// URL)")
    if name:
        config["NAME"] = name
    return config


def client_env(config: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PGHOST=str(config["HOST"]),
        PGPORT=str(config["PORT"]),
        PGUSER=str(config["USER"]),
        PGDATABASE=str(config["NAME"]),
    )
    if config.get("PASSWORD"):
        env["PGPASSWORD"] = str(config["PASSWORD"])
    for key, value in (config.get("OPTIONS") or {}).items():
        if key in _LIBPQ_OPTIONS:
            env["PG" + key.upper().replace("_", "")] = str(value)
    env["PGSSLMODE"] = env.get("PGSSLMODE", "prefer")
    return env


def connect(config: dict[str, Any], *, autocommit: bool = False) -> psycopg.Connection:
    options = {k: v for k, v in (config.get("OPTIONS") or {}).items() if k in _LIBPQ_OPTIONS}
    return psycopg.connect(
        host=config["HOST"],
        port=config["PORT"],
        user=config["USER"],
        password=config.get("PASSWORD") or None,
        dbname=config["NAME"],
        autocommit=autocommit,
        **options,
    )


def _major(version_text: str) -> int:
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text)
    if not match:
        raise PostgresError(f"cannot read a PostgreSQL version in {version_text!r}")
    return int(match.group(1))


def check_client(program: str, server_version_num: int) -> str:
    """`program --version` must be of the server's major version: an older pg_dump refuses a newer server
    and a newer one writes archives an older pg_restore cannot read on the restore machine."""
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PostgresError(f"{program} not found or not working ({exc}): install postgresql-client") from exc
    server_major = server_version_num // 10000
    if _major(out) != server_major:
        raise PostgresError(
            f"{program} is {out.strip()!r} but the server is PostgreSQL {server_major}: install "
            f"postgresql-client-{server_major} and put it first in PATH"
        )
    return out.strip()


@contextlib.contextmanager
def exported_snapshot(config: dict[str, Any]) -> Iterator[tuple[psycopg.Connection, str]]:
    """A REPEATABLE READ transaction whose snapshot pg_dump will share (`--snapshot`)."""
    with connect(config) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        try:
            yield conn, str(row[0])
        finally:
            conn.rollback()


def server_version(conn: psycopg.Connection) -> int:
    return int(conn.info.server_version)


def start_dump(config: dict[str, Any], snapshot: str) -> subprocess.Popen[bytes]:
    # Custom format, compressed lightly: most of the bytes are AES-GCM ciphertext (blob rows, sealed fields),
    # which no compression level shrinks; level 1 keeps the CPU for the rest.
    return subprocess.Popen(
        ["pg_dump", "--format=custom", "--compress=1", f"--snapshot={snapshot}", "--no-password"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=client_env(config),
    )


def start_restore(config: dict[str, Any]) -> subprocess.Popen[bytes]:
    # --no-owner/--no-privileges: the restore machine's role need not be named like the original one.
    return subprocess.Popen(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--no-password",
            "-d",
            config["NAME"],
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=client_env(config),
    )


def public_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return [str(row[0]) for row in rows]


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    counts = {}
    for table in public_tables(conn):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def create_database(name: str) -> None:
    with connect(db_settings("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with connect(db_settings("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def empty_public_schema(config: dict[str, Any]) -> None:
    """`restore --force`: drop everything in the public schema (extensions too: the dump recreates
    them)."""
    with connect(config, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
