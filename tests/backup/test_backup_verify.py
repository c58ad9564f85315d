"""Backup -> restore into a throwaway PostgreSQL database -> same counts, a valid journal, readable mail."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from apps.backup import manifest
from apps.backup.gpg import temporary_home
from apps.backup.models import BackupRun, RunKind, RunStatus
from apps.backup.verify import do_verify_backup
from apps.crypto import keys as crypto_keys
from apps.messaging.models import MessageCopy
from tests.backup.conftest import PASSPHRASE
from tests.backup.support import backup, fill

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _verify(directory, keys, scratch_db, **options):
    return do_verify_backup(
        directory, say=lambda line: None, secret_key=str(keys.secret), scratch_db=scratch_db, **options
    )


def test_it_restores_a_backup_with_the_same_counts_a_valid_journal_and_every_message_readable(
    backup_settings, gpg_keys, scratch_db, tmp_path, alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    fill(backup_settings, alice_bal, cardio_bal, pharmacy_bal, dr_alice)
    directory = tmp_path / "backup"
    backup(directory)
    body = json.loads((directory / manifest.MANIFEST).read_bytes())
    assert body["counts"]["messaging_message"] == 3 and body["referenced_blob_files"] >= 1
    assert any(name.startswith("blobs/") for name in body["files"])

    run = _verify(directory, gpg_keys, scratch_db)  # 3 per BAL: all of them here

    assert run.status == RunStatus.OK, run.report
    assert run.verdict.startswith("OK : ")
    assert "comptes identiques au manifeste" in run.report
    assert "chaîne de sceaux valide" in run.report
    copies = MessageCopy.objects.count()  # the recipients' and the sender's (Envoyés)
    assert f"{copies}/{copies} lus et vérifiés dans 3 BAL (sur 3)" in run.report
    assert "0 en fichier" not in run.report and "0 en ligne" not in run.report
    assert BackupRun.objects.get(kind=RunKind.VERIFY) == run


def test_the_dump_is_unreadable_without_the_backup_key_and_no_master_key_is_inside(
    backup_settings, gpg_keys, tmp_path, alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    fill(backup_settings, alice_bal, cardio_bal, pharmacy_bal, dr_alice)
    directory = tmp_path / "backup"
    backup(directory)
    dump = (directory / manifest.DUMP).read_bytes()
    assert b"PGDMP" not in dump and b"messaging_message" not in dump  # not a readable pg_dump archive
    ring = crypto_keys.master_key_ring()
    for kid in ring.kids:
        key = ring.get(kid)
        for path in directory.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert key not in data and base64.b64encode(key) not in data, path
    with temporary_home() as pgp:  # somebody else's secret key opens nothing
        pgp.import_key(gpg_keys.other_secret.read_text(), what="other", secret=True)
        with open(directory / manifest.DUMP, "rb") as source:
            result = pgp.gpg.decrypt_file(source)
        assert not result.ok and not result.data
    # ...while standard tools open it with the right key (a restore on a new machine needs nothing else).
    with temporary_home() as pgp:
        pgp.import_key(gpg_keys.secret.read_text(), what="backup", secret=True)
        out = tmp_path / "dump"
        with open(directory / manifest.DUMP, "rb") as source, open(out, "wb") as sink:
            pgp.decrypt_stream(source, sink.write, passphrase=PASSPHRASE)
        listed = subprocess.run(
            ["pg_restore", "--list", str(out)], capture_output=True, text=True, check=True
        )
        assert "messaging_message" in listed.stdout
        signed = subprocess.run(
            [
                "gpg",
                "--homedir",
                str(pgp.home),
                "--verify",
                str(directory / manifest.SIGNATURE),
                str(directory / manifest.MANIFEST),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert signed.returncode != 0  # this home does not know the signing key...
        pgp.import_key(gpg_keys.signing_public.read_text(), what="signing")
        signed = subprocess.run(
            [
                "gpg",
                "--homedir",
                str(pgp.home),
                "--verify",
                str(directory / manifest.SIGNATURE),
                str(directory / manifest.MANIFEST),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert signed.returncode == 0, signed.stderr  # ...gpg --verify with its public half succeeds


def test_a_corrupted_backup_fails_verification_with_a_precise_message(
    backup_settings, gpg_keys, scratch_db, tmp_path, alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    fill(backup_settings, alice_bal, cardio_bal, pharmacy_bal, dr_alice)
    good = tmp_path / "backup"
    backup(good)

    flipped = tmp_path / "flipped"
    shutil.copytree(good, flipped)
    data = bytearray((flipped / manifest.DUMP).read_bytes())
    data[len(data) // 2] ^= 0x01
    (flipped / manifest.DUMP).write_bytes(bytes(data))
    run = _verify(flipped, gpg_keys, scratch_db)
    assert run.status == RunStatus.FAILED
    assert "database.dump.gpg : SHA-256" in run.verdict and "(fichier altéré ou endommagé)" in run.verdict

    missing = tmp_path / "missing"
    shutil.copytree(good, missing)
    blob = next(p for p in (missing / manifest.BLOBS).rglob("*") if p.is_file())
    blob.unlink()
    run = _verify(missing, gpg_keys, scratch_db)
    assert run.status == RunStatus.FAILED
    relative = blob.relative_to(missing).as_posix()
    assert f"{relative} : absent (listé dans le manifeste" in run.verdict

    forged = tmp_path / "forged"
    shutil.copytree(good, forged)
    body = json.loads((forged / manifest.MANIFEST).read_bytes())
    body["counts"]["messaging_message"] = 99
    (forged / manifest.MANIFEST).write_bytes(manifest.to_bytes(body))
    run = _verify(forged, gpg_keys, scratch_db)
    assert run.status == RunStatus.FAILED and "signature du manifeste invalide" in run.verdict


def test_without_the_secret_key_verification_checks_what_it_can_and_says_it_did_not_restore(
    backup_settings, tmp_path, alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    fill(backup_settings, alice_bal, cardio_bal, pharmacy_bal, dr_alice)
    backup(tmp_path / "backup")
    run = do_verify_backup(tmp_path / "backup", say=lambda line: None)
    assert run.status == RunStatus.INCOMPLETE
    assert run.verdict.startswith("INCOMPLET : ")
