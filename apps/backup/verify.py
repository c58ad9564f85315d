"""`do_verify_backup`: prove a backup restores, by restoring it into a throwaway database and blob directory.

Checks, in order, stopping at the first that fails (the verdict names it precisely):
1. the manifest's signature by the platform's signing key, the size and SHA-256 of every file;
2. the dump decrypts with the backup secret key and pg_restore loads it into a new database;
3. in a child process pointed at that database and blob directory (`manage.py backup_inspect`): the row
   count of every table equals the manifest's (taken in the dump's snapshot), the journal's seal chain
   verifies, every blob a row names is there, and a sample of messages of every BAL decrypts with the
   master keys given (subject, body, raw message and attachments, checked against their SHA-256).
The throwaway database and directory are dropped afterwards, whatever happened.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings

from . import keys, pg, restoring
from .gpg import BackupKeyError
from .manifest import ManifestError
from .models import BackupRun, RunKind, RunStatus
from .progress import Say, human
from .services import BackupError, finish_run, start_run

logger = logging.getLogger(__name__)


def scratch_name(prefix: str | None = None) -> str:
    base = prefix or f"{pg.db_settings()['NAME']}_restore"
    return f"{base}_{secrets.token_hex(4)}"[:63]


def _inspect(config: dict[str, Any], blob_root: Path, master_keys: str, sample: int | None) -> dict[str, Any]:
    env = dict(os.environ)
    user = f"{config['USER']}:{config['PASSWORD']}@" if config.get("PASSWORD") else f"{config['USER']}@"
    env.update(
        DATABASE_URL=f"postgres://{user}{config['HOST']}:{config['PORT']}/{config['NAME']}",
        MESSAGE_STORE_DIR=str(blob_root),
        MASTER_KEYS=master_keys,
        AUDIT_SEAL_KEY=settings.AUDIT_SEAL_KEY,
        DB_CONN_MAX_AGE="0",
    )
    env.pop("MASTER_KEYS_FILE", None)
    env.pop("MASTER_KEY", None)
    env.pop("AUDIT_SEAL_KEY_FILE", None)
    if settings.TESTING:
        env["MSSANTE_TESTING"] = "1"
    manage = Path(settings.BASE_DIR) / "manage.py"
    args = [sys.executable, str(manage), "backup_inspect", "--sample", str(sample or 0)]
    done = restoring.run_child(args, env)
    if done.returncode != 0:
        last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["?"]
        logger.error("backup_inspect failed: %s", done.stderr[-4000:])
        raise BackupError(f"l'inspection de la base restaurée a échoué : {last[0][-500:]}")
    return json.loads(done.stdout)


def _compare(body: dict[str, Any], found: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, report lines) from the child's findings against the manifest."""
    problems, lines = [], []
    expected, counts = body["counts"], found["counts"]
    for table in sorted(set(expected) | set(counts)):
        if expected.get(table) != counts.get(table):
            problems.append(
                f"table {table} : {counts.get(table)} lignes restaurées, {expected.get(table)} attendues"
            )
    lines.append(
        f"{len(counts)} tables, {sum(counts.values())} lignes : comptes identiques au manifeste"
        if not problems
        else f"{len(problems)} table(s) aux comptes différents"
    )
    journal = found["journal"]
    if journal["ok"]:
        lines.append(f"journal : chaîne de sceaux valide ({journal['checked']} événements scellés)")
    else:
        problems.append(f"journal restauré : chaîne rompue : {journal['break']}")
    missing = found["missing_blobs"]
    if missing["count"]:
        problems.append(
            f"{missing['count']} bloc(s) référencé(s) absent(s) après restauration : "
            + ", ".join(missing["first"][:5])
        )
    messages = found["messages"]
    lines.append(
        f"messages : {messages['read']}/{messages['sampled']} lus et vérifiés "
        f"dans {messages['mailboxes']} BAL "
        f"(sur {messages['mailboxes_with_copies']}), {messages['file_blobs']} en fichier, "
        f"{messages['row_blobs']} en ligne"
    )
    if messages.get("attachments_without_content"):
        lines.append(
            f"{messages['attachments_without_content']} pièce(s) jointe(s) sans contenu stocké (rien à lire)"
        )
    if messages["failure_count"]:
        problems.append(f"{messages['failure_count']} message(s) illisible(s) : {messages['failures'][0]}")
    if messages["mailboxes"] < messages["mailboxes_with_copies"]:
        problems.append("des BAL n'ont eu aucun message lu dans l'échantillon")
    return problems, lines


def _restore_and_inspect(
    directory: Path, body: dict[str, Any], secret: keys.SecretKey, options: dict[str, Any], say: Say
) -> tuple[list[str], list[str]]:
    name = options.get("scratch_db") or scratch_name()
    config = pg.db_settings(name)
    blob_root = Path(tempfile.mkdtemp(prefix="mssante-restore-blobs-"))
    pg.create_database(name)
    try:
        say(f"Restauration dans la base jetable « {name} »…")
        restoring.load(directory, secret, config, blob_root, say)
        say("Inspection de la base restaurée (comptes, journal, messages)…")
        found = _inspect(
            config, blob_root, restoring.ring_entries(options.get("master_keys")), options.get("sample")
        )
    finally:
        pg.drop_database(name)
        shutil.rmtree(blob_root, ignore_errors=True)
    return _compare(body, found)


def _verify(directory: Path, options: dict[str, Any], say: Say) -> tuple[str, list[str], list[str], int]:
    """(status, problems, report lines, bytes checked)."""
    checked = restoring.check_backup(directory, signer_key_file=options.get("signer_key"), say=say)
    lines = [f"{checked.files} fichiers vérifiés ({human(checked.bytes)}), signature du manifeste valide"]
    if checked.problems:
        return RunStatus.FAILED, checked.problems, lines, checked.bytes
    secret = keys.secret_key(options.get("secret_key"))
    if secret is None:
        lines.append("restauration non essayée : aucune clé secrète de sauvegarde sur cet hôte")
        return RunStatus.INCOMPLETE, [], lines, checked.bytes
    problems, more = _restore_and_inspect(directory, checked.manifest, secret, options, say)
    return (RunStatus.FAILED if problems else RunStatus.OK), problems, lines + more, checked.bytes


def do_verify_backup(directory: Path, *, say: Say, **options: Any) -> BackupRun:
    """Options: secret_key (file), signer_key (file), master_keys (MASTER_KEYS text), sample (per BAL,
    None = every message), scratch_db (name of the throwaway database)."""
    run = start_run(RunKind.VERIFY, directory)
    started = time.monotonic()
    try:
        status, problems, lines, _checked = _verify(directory, options, say)
    except (
        ManifestError,
        BackupKeyError,
        BackupError,
        pg.PostgresError,
        OSError,
        ValueError,
        psycopg.Error,
    ) as exc:
        status, problems, lines = RunStatus.FAILED, [str(exc)], []
    lines = list(lines or [])
    elapsed = f"{time.monotonic() - started:.0f} s"
    if status == RunStatus.OK:
        verdict = f"OK : {directory} restaurée et vérifiée en {elapsed} ; " + " ; ".join(lines[1:])
    elif status == RunStatus.INCOMPLETE:
        verdict = f"INCOMPLET : {directory} intègre et signée, mais non restaurée (pas de clé secrète ici)"
    else:
        verdict = f"ÉCHEC : {directory} : {problems[0]}" + (
            f" (+{len(problems) - 1} autres)" if len(problems) > 1 else ""
        )
    return finish_run(run, status, verdict, [*lines, *problems])
