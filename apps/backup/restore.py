"""`do_restore_backup`: load a verified backup into this platform's (empty) database and blob store.

It refuses a database that already has tables, and a blob store that already has files, unless `force`:
restoring over live data by mistake would mix two platforms. The checks that need no secret (signature,
sizes, SHA-256) run first, so a damaged backup is refused before anything is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.crypto import keys as crypto_keys
from apps.messaging.store import blobs

from . import blobstore, keys, pg, restoring
from .models import BackupRun, RunKind, RunStatus
from .progress import Say
from .services import BackupError, finish_run, start_run


class RestoreRefused(BackupError):
    """The target is not empty and --force was not given."""


def _check_targets(config: dict[str, Any], force: bool) -> None:
    with pg.connect(config) as conn:
        tables = pg.public_tables(conn)
    store_files = next(iter(blobstore.live_files()), None)
    if tables and not force:
        raise RestoreRefused(
            f"la base « {config['NAME']} » n'est pas vide ({len(tables)} tables, dont {tables[0]}) : "
            "restaurez "
            "dans une base vide, ou ajoutez --force pour effacer son contenu"
        )
    if store_files and not force:
        raise RestoreRefused(
            f"le magasin de blocs {blobs.store_dir()} contient déjà des fichiers : "
            "videz-le, ou ajoutez --force"
        )
    if tables:
        connection.close()  # our own connection must not hold locks on what is dropped
        pg.empty_public_schema(config)


def _rotations() -> list[str]:
    """The master key rotations the restored journal records (`rotate_master_key` writes one per batch)."""
    events = (
        AuditEvent.objects.filter(action="crypto.master_key_rotated")
        .order_by("id")
        .values_list("occurred_at", "details")
    )
    seen: dict[str, str] = {}
    for occurred_at, details in events:
        seen.setdefault(str((details or {}).get("kid", "?")), f"{occurred_at:%Y-%m-%d}")
    if not seen:
        return ["   Le journal restauré ne contient aucune rotation de clé maîtresse."]
    return ["   Rotations inscrites au journal : " + ", ".join(f"{d} -> {kid}" for kid, d in seen.items())]


def next_steps(body: dict[str, Any]) -> list[str]:
    needed = body.get("master_key_ids", [])
    try:
        known = set(crypto_keys.master_key_ring().kids)
    except crypto_keys.MasterKeyError:
        known = set()
    missing = [kid for kid in needed if kid not in known]
    lines = [
        "Étapes suivantes :",
        f"1. Clés maîtresses nécessaires (MASTER_KEYS) : {', '.join(needed) or 'aucune (pas de BAL)'}"
        + (f" ; ABSENTES de cet environnement : {', '.join(missing)}" if missing else " ; toutes présentes"),
        "   Sortez-les du coffre où elles sont séquestrées ; sans elles, aucun message ne se lit.",
        "2. Si la version du code est plus récente que la sauvegarde : manage.py migrate.",
        "3. Si une rotation de clé maîtresse a eu lieu après la sauvegarde (MASTER_KEYS commence par une clé "
        "plus récente) : manage.py rotate_master_key, puis retirez l'ancienne clé quand il n'en "
        "reste aucune.",
        *_rotations(),
        "4. Contrôlez le journal : manage.py audit_verify (même AUDIT_SEAL_KEY qu'à la sauvegarde).",
        "5. Démarrez web, worker, beat et la passerelle ; les livraisons en cours reprennent par le "
        "balayeur.",
    ]
    return lines


def do_restore_backup(
    directory: Path, *, force: bool, secret_key: str | None, signer_key: str | None, say: Say
) -> list[str]:
    """Restore; returns the next-step lines. Raises BackupError (RestoreRefused) with the reason."""
    checked = restoring.check_backup(directory, signer_key_file=signer_key, say=say)
    if checked.problems:
        raise BackupError("sauvegarde refusée : " + " ; ".join(checked.problems[:5]))
    secret = keys.secret_key(secret_key)
    if secret is None:
        raise BackupError("la clé secrète de sauvegarde est nécessaire : --secret-key FICHIER")
    config = pg.db_settings()
    _check_targets(config, force)
    connection.close()
    restoring.load(directory, secret, config, blobs.store_dir(), say)
    _record(directory, config["NAME"])
    return next_steps(checked.manifest)


def _record(directory: Path, database: str) -> None:
    """Journal the restore in the restored database. A backup of a version older than this app has no
    run table until `migrate`: the journal event alone then (the journal exists in every version)."""
    verdict = f"OK : {directory} restaurée dans « {database} »"
    if BackupRun._meta.db_table in connection.introspection.table_names():
        finish_run(start_run(RunKind.RESTORE, directory), RunStatus.OK, verdict, [])
    else:
        record_event(
            "backup.restore",
            actor_label="commande de sauvegarde",
            target_type="backup",
            details={"directory": str(directory), "status": RunStatus.OK, "verdict": verdict},
        )
