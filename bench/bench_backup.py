#!/usr/bin/env python3
"""Backup benchmark: `backup`, `backup_verify` and `restore` timed on the inbox benchmark's database.

The source is read only: `pg_dump` in an exported snapshot (the backup's run record and journal event go to
another database, BENCH_BACKUP_RUNS_DATABASE_URL). The verification restores into BENCH_BACKUP_RESTORE_DB
and drops it; the restore (`manage.py restore` in a child process, as an operator would run it on a new
machine) goes into the same name, created empty first, dropped afterwards. OpenPGP keys are made for the run.

    .venv/bin/python bench/bench_inbox.py              # once: the 1,000,000-message database
    .venv/bin/python bench/bench_backup.py             # backs up mssante_bench_inbox
    .venv/bin/python bench/bench_backup.py --smoke     # a freshly migrated small database
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from support import ensure_database, machine  # noqa: E402 (bench/ is the script's directory)

SERVER = "postgres://postgres@127.0.0.1:5432"
PASSPHRASE = "banc d'essai"


def _keys(directory: Path) -> dict[str, Path]:
    from apps.backup.gpg import temporary_home

    files = {}
    with temporary_home() as pgp:
        made = {}
        for label, passphrase in (("backup", PASSPHRASE), ("signing", None)):
            params = pgp.gpg.gen_key_input(
                key_type="EDDSA", key_curve="ed25519", subkey_type="ECDH", subkey_curve="cv25519",
                name_real=f"Banc {label}", name_email=f"{label}@bench.invalid", expire_date=0,
                passphrase=passphrase, no_protection=passphrase is None,
            )  # fmt: skip
            made[label] = str(pgp.gpg.gen_key(params).fingerprint)
        exports = {
            "public": pgp.gpg.export_keys(made["backup"]),
            "secret": pgp.gpg.export_keys(made["backup"], secret=True, passphrase=PASSPHRASE),
            "signing": pgp.gpg.export_keys(made["signing"], secret=True, expect_passphrase=False),
        }
    for name, armored in exports.items():
        files[name] = directory / f"{name}.asc"
        files[name].write_text(armored, encoding="ascii")
    return files


def _source_stats(source: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(f"{SERVER}/{source}") as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        messages = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
    return int(size), int(messages)


def _restore(directory: Path, keys: dict[str, Path], database: str, store: Path) -> float:
    from apps.backup import pg

    pg.create_database(database)
    env = dict(
        os.environ,
        DATABASE_URL=f"{SERVER}/{database}",
        MESSAGE_STORE_DIR=str(store),
        BACKUP_SIGNING_KEY_FILE=str(keys["signing"]),
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "restore", str(directory), "--secret-key", str(keys["secret"])],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    pg.drop_database(database)
    if done.returncode != 0:
        raise SystemExit(f"bench: restore failed: {done.stderr[-2000:]}")
    return elapsed


def _setup(options: argparse.Namespace, work: Path) -> str:
    source = options.source or ("mssante_bench_backup_smoke" if options.smoke else "mssante_bench_inbox")
    # Where runs are recorded: never the source (read only), except the smoke's own small database.
    default_runs = f"{SERVER}/{source}" if options.smoke else f"{SERVER}/mssante_bench_backup_runs"
    runs = os.environ.get("BENCH_BACKUP_RUNS_DATABASE_URL", default_runs)
    env = {
        "DATABASE_URL": runs,
        "MSSANTE_TESTING": "1",  # the inbox benchmark's rows are sealed under the test master key
        "TEST_REDIS_DB": "9",
        "CELERY_QUEUE_PREFIX": "bench-backup-",
        "MESSAGE_STORE_DIR": str(work / "store"),
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
        "BACKUP_SECRET_KEY_PASSPHRASE": PASSPHRASE,
    }
    os.environ.update(env)
    os.environ.pop("MSSANTE_DEV", None)
    (work / "store").mkdir()
    ensure_database(runs, dict(os.environ))
    if options.smoke and runs != f"{SERVER}/{source}":
        ensure_database(f"{SERVER}/{source}", dict(os.environ, DATABASE_URL=f"{SERVER}/{source}"))
    sys.path.insert(0, str(ROOT))
    return source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a small freshly migrated database")
    parser.add_argument("--source", help="database to back up (default mssante_bench_inbox)")
    parser.add_argument("--sample", type=int, default=3, help="messages read per BAL by the verification")
    options = parser.parse_args()
    restore_db = os.environ.get("BENCH_BACKUP_RESTORE_DB", "mssante_bench_restore")
    work = Path(tempfile.mkdtemp(prefix="mssante-bench-backup-"))
    try:
        source = _setup(options, work)
        load = machine()
        import django

        django.setup()
        from django.conf import settings

        from apps.backup.services import do_backup
        from apps.backup.verify import do_verify_backup

        keys = _keys(work)
        settings.BACKUP_PUBLIC_KEY_FILE, settings.BACKUP_SIGNING_KEY_FILE = (
            str(keys["public"]),
            str(keys["signing"]),
        )
        size, messages = _source_stats(source)
        directory = work / "backup"
        started = time.monotonic()
        run = do_backup(directory, say=print, database=source)
        backup_s = time.monotonic() - started
        if run.status != "ok":
            raise SystemExit(f"bench: backup failed: {run.verdict}")
        dump = (directory / "database.dump.gpg").stat().st_size
        started = time.monotonic()
        verified = do_verify_backup(
            directory, say=print, secret_key=str(keys["secret"]), scratch_db=restore_db, sample=options.sample
        )
        verify_s = time.monotonic() - started
        print(verified.report)
        if verified.status != "ok":
            raise SystemExit(f"bench: verification failed: {verified.verdict}")
        restore_s = _restore(directory, keys, restore_db, work / "restored-store")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = "bench/bench_backup.py" + (" --smoke" if options.smoke else "")
    print(f"\n- Machine: {load}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- Command: `.venv/bin/python {command}`; source `{source}`: {messages:,} messages, database "
          f"{size / 2**20:,.0f} MiB; encrypted dump {dump / 2**20:,.0f} MiB")  # fmt: skip
    print("\n| Step | Seconds |\n|---|---:|")
    print(f"| `backup` (snapshot, pg_dump -Fc -Z1, gpg, blob copy, signed manifest) | {backup_s:.0f} |")
    print(f"| `backup_verify` (checksums, restore into a throwaway database, counts, journal, "
          f"{options.sample} messages per BAL) | {verify_s:.0f} |")  # fmt: skip
    print(f"| `restore` (child `manage.py restore` into an empty database) | {restore_s:.0f} |")
    print(f"\nVerdict: {verified.verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
