"""Taking backups: `do_backup` (dump + blobs + signed manifest) and `do_prune_backups` (retention).

A backup is a new directory:
    database.dump.gpg   pg_dump custom format, encrypted to the operator's backup key (OpenPGP)
    blobs/xx/yy/<name>  the blob files over MESSAGE_INLINE_MAX_BYTES, copied as they are (already ciphertext)
    manifest.json       sizes and SHA-256 of every file, row counts of every table in the dump's snapshot,
                        the master key ids the BAL keys are wrapped with, the key fingerprints
    manifest.json.asc   the platform's detached signature of manifest.json (written last: its presence
                        marks a finished backup)
The master keys are never in it: the dump holds BAL keys wrapped by them, so a backup is readable only with
the backup secret key *and* the master keys of its time (docs/decisions/0017).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import record_event
from apps.crypto import keys as crypto_keys
from apps.mailboxes.models import MailboxKey

from . import blobstore, keys, manifest, pg
from .gpg import BackupKeyError, OpenPGP, temporary_home
from .models import BackupRun, RunKind, RunStatus
from .progress import CountingReader, Say, Throttled, human

logger = logging.getLogger(__name__)


class BackupError(Exception):
    """A backup, verification or restore that cannot go on; the message is for the operator."""


def _new_directory(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(
            f"{directory} existe déjà et n'est pas vide : une sauvegarde va dans un nouveau répertoire"
        )
    directory.mkdir(parents=True, exist_ok=True)


def _master_key_ids(conn: Any) -> list[str]:
    table = MailboxKey._meta.db_table
    kids = set()
    for (wrapped,) in conn.execute(f'SELECT wrapped FROM "{table}"'):  # noqa: S608 (model table name)
        kids.add(crypto_keys.mailbox_wrap_kid(bytes(wrapped)))
    return sorted(kids)


def _dump(pgp: OpenPGP, recipient: str, config: dict[str, Any], target: Path, say: Say) -> dict[str, Any]:
    """Dump in the exported snapshot; read the counts and expected blob files in that same snapshot."""
    with pg.exported_snapshot(config) as (conn, snapshot):
        version = pg.server_version(conn)
        client = pg.check_client("pg_dump", version)
        pg.check_client("pg_restore", version)
        counts = pg.table_counts(conn)
        facts: dict[str, Any] = {
            "counts": counts,
            "expected_files": blobstore.expected_files(conn),
            "master_key_ids": _master_key_ids(conn),
            "postgres": {"server_version": version, "pg_dump": client},
        }
        say(f"Base : {sum(counts.values())} lignes dans {len(counts)} tables ; export…")
        process = pg.start_dump(config, snapshot)
        tick = Throttled(say)
        reader = CountingReader(process.stdout, lambda n: tick(f"  export chiffré : {human(n)}"))  # type: ignore[arg-type]
        size, digest = pgp.encrypt_stream(reader, recipient, target)  # type: ignore[arg-type]
        errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
        if process.wait() != 0:
            raise BackupError(f"pg_dump a échoué (code {process.returncode}) : {errors.strip()[-500:]}")
    tick(f"  export chiffré terminé : {human(reader.count)} d'export, {human(size)} chiffrés", force=True)
    facts["dump"] = {"size": size, "sha256": digest}
    return facts


def _copy_blobs(directory: Path, say: Say) -> dict[str, dict[str, Any]]:
    tick = Throttled(say)
    copied = blobstore.copy_store(
        directory / manifest.BLOBS, lambda count, total: tick(f"  blocs : {count} fichiers, {human(total)}")
    )
    tick(f"  blocs copiés : {len(copied)} fichiers, {human(sum(s for s, _ in copied.values()))}", force=True)
    return {
        f"{manifest.BLOBS}/{name}": {"size": size, "sha256": digest}
        for name, (size, digest) in copied.items()
    }


def _write_manifest(directory: Path, body: dict[str, Any], pgp: OpenPGP, signer: str) -> None:
    data = manifest.to_bytes(body)
    signature = pgp.sign_detached(data, signer, passphrase=keys.signing_passphrase())
    for name, content in ((manifest.MANIFEST, data), (manifest.SIGNATURE, signature)):
        with open(directory / name, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())


def start_run(kind: str, directory: Path) -> BackupRun:
    return BackupRun.objects.create(kind=kind, directory=str(directory))


def finish_run(run: BackupRun, status: str, verdict: str, report: list[str], **fields: Any) -> BackupRun:
    with transaction.atomic():
        run.status, run.verdict, run.report = status, verdict[:1000], "\n".join(report)
        run.finished_at = timezone.now()
        for name, value in fields.items():
            setattr(run, name, value)
        run.save()
        record_event(
            f"backup.{run.kind}",
            actor_label="commande de sauvegarde",
            target_type="backup",
            target_id=str(run.pk),
            outcome="success" if status in (RunStatus.OK, RunStatus.INCOMPLETE) else "failure",
            details={"directory": run.directory, "status": status, "verdict": verdict[:300]},
        )
    return run


def _backup_body(directory: Path, say: Say, database: str | None) -> tuple[dict[str, Any], list[str]]:
    config = pg.db_settings(database)
    with temporary_home() as pgp:
        recipient, signer = keys.import_recipient(pgp), keys.import_signer(pgp)
        started = timezone.now()
        facts = _dump(pgp, recipient, config, directory / manifest.DUMP, say)
        say("Copie du magasin de blocs…")
        files = {manifest.DUMP: facts.pop("dump"), **_copy_blobs(directory, say)}
        expected = facts.pop("expected_files")
        missing = sorted(expected - {name.removeprefix(f"{manifest.BLOBS}/") for name in files})
        body = {
            "format": manifest.FORMAT,
            "created_at": started.isoformat(),
            "finished_at": timezone.now().isoformat(),
            "backup_key": recipient,
            "signing_key": signer,
            "message_inline_max_bytes": int(getattr(settings, "MESSAGE_INLINE_MAX_BYTES", 0)),
            "files": files,
            "referenced_blob_files": len(expected),
            "missing_blob_files": missing[:100],
            **facts,
        }
        _write_manifest(directory, body, pgp, signer)
    problems = [f"bloc référencé absent du magasin vivant : {name}" for name in missing]
    return body, problems


def do_backup(directory: Path, *, say: Say = logger.info, database: str | None = None) -> BackupRun:
    """Take a backup into the new directory `directory`; the run is recorded (and journaled) either way.
    `database`: another database of the same server to back up (the benchmark's, read-only)."""
    _new_directory(directory)
    run = start_run(RunKind.BACKUP, directory)
    try:
        body, problems = _backup_body(directory, say, database)
    except (
        BackupError,
        BackupKeyError,
        pg.PostgresError,
        OSError,
        subprocess.SubprocessError,
        psycopg.Error,
    ) as exc:
        finish_run(run, RunStatus.FAILED, f"ÉCHEC : {exc}", [str(exc)])
        raise BackupError(str(exc)) from exc
    size = sum(entry["size"] for entry in body["files"].values())
    counts = body["counts"]
    summary = (
        f"{directory} : {human(size)}, {len(body['files']) - 1} fichiers de blocs, "
        f"{counts.get('messaging_message', 0)} messages, {counts.get('messaging_messagecopy', 0)} copies"
    )
    if problems:
        return finish_run(
            run, RunStatus.FAILED, f"ÉCHEC : {problems[0]} ({len(problems)} au total)", problems
        )
    return finish_run(run, RunStatus.OK, f"OK : sauvegarde {summary}", [summary], size_bytes=size)


def finished_backups(root: Path) -> list[Path]:
    """Backup directories under `root` whose manifest is signed, oldest first (names are UTC timestamps)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / manifest.SIGNATURE).is_file())


def do_prune_backups(root: Path, keep: int) -> list[Path]:
    """Delete finished backups beyond the `keep` newest, and unfinished ones older than the newest
    finished one."""
    finished = finished_backups(root)
    doomed = finished[: max(len(finished) - max(keep, 1), 0)]
    if finished:
        newest = finished[-1].name
        doomed += [
            p
            for p in root.iterdir()
            if p.is_dir() and p not in finished and p.name < newest and p.name.startswith("mssante-")
        ]
    for path in doomed:
        shutil.rmtree(path)
    if doomed:
        record_event(
            "backup.pruned",
            actor_label="sauvegarde périodique",
            target_type="backup",
            details={"deleted": [p.name for p in doomed], "keep": keep},
        )
    return doomed


def periodic_directory(root: Path) -> Path:
    return root / f"mssante-{timezone.now():%Y%m%dT%H%M%SZ}"
