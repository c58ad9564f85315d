"""The last backup and drill on the operator's home page and in /healthz; retention of periodic backups."""

from __future__ import annotations

import json

from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.backup import manifest
from apps.backup.models import BackupRun, RunKind, RunStatus
from apps.backup.services import do_prune_backups, finished_backups
from apps.backup.tasks import take_periodic_backup, verify_latest_backup


def _run(kind: str, status: str, verdict: str) -> BackupRun:
    return BackupRun.objects.create(
        kind=kind, status=status, directory="/sauvegardes/x", verdict=verdict, finished_at=timezone.now()
    )


def test_the_operator_home_shows_the_last_drill_and_others_do_not_see_it(admin_client_olga, alice_client):
    _run(RunKind.BACKUP, RunStatus.OK, "OK : sauvegarde")
    _run(RunKind.VERIFY, RunStatus.FAILED, "ÉCHEC : /sauvegardes/x : database.dump.gpg : SHA-256 …")

    page = admin_client_olga.get("/").content.decode()
    assert "Sauvegardes" in page and "Dernière vérification par restauration" in page
    assert "En échec" in page and "database.dump.gpg : SHA-256" in page
    assert "Dernière vérification par restauration" not in alice_client.get("/").content.decode()


def test_healthz_reports_the_last_backup_and_drill_without_paths(db, settings):
    settings.HEALTHZ_WORKER_TIMEOUT = 0.2
    _run(RunKind.VERIFY, RunStatus.OK, "OK : /sauvegardes/x restaurée")
    body = json.loads(Client().get("/healthz").content)
    assert body["backups"]["last_verify"]["status"] == "ok"
    assert body["backups"]["last_backup"] is None
    assert "/sauvegardes" not in json.dumps(body)


def test_retention_keeps_the_newest_finished_backups_and_journals_the_deletion(db, tmp_path):
    for stamp in ("20261201T000000Z", "20261202T000000Z", "20261203T000000Z", "20261204T000000Z"):
        directory = tmp_path / f"mssante-{stamp}"
        directory.mkdir()
        (directory / manifest.SIGNATURE).write_text("signature")
    (tmp_path / "mssante-20261202T120000Z").mkdir()  # an unfinished one, older than the newest: gone too

    deleted = do_prune_backups(tmp_path, keep=2)

    assert sorted(p.name for p in deleted) == [
        "mssante-20261201T000000Z",
        "mssante-20261202T000000Z",
        "mssante-20261202T120000Z",
    ]
    assert [p.name for p in finished_backups(tmp_path)] == [
        "mssante-20261203T000000Z",
        "mssante-20261204T000000Z",
    ]
    assert AuditEvent.objects.filter(action="backup.pruned").exists()


def test_the_periodic_backup_keeps_backup_keep_and_the_drill_without_key_says_incomplete(
    backup_settings, tmp_path, db
):
    backup_settings.BACKUP_DIR = str(tmp_path / "sauvegardes")
    backup_settings.BACKUP_KEEP = 1
    (tmp_path / "sauvegardes").mkdir()
    old = tmp_path / "sauvegardes" / "mssante-20200101T000000Z"
    old.mkdir()
    (old / manifest.SIGNATURE).write_text("signature")

    assert take_periodic_backup.apply().get() == "ok"

    kept = finished_backups(tmp_path / "sauvegardes")
    assert len(kept) == 1 and kept[0] != old  # the new one, signed; the old one pruned
    assert verify_latest_backup.apply().get() == "incomplete"  # no backup secret key on this host
    drill = BackupRun.objects.filter(kind=RunKind.VERIFY).get()
    assert drill.status == RunStatus.INCOMPLETE and str(kept[0]) in drill.verdict
