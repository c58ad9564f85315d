"""`manage.py restore`: refuses a non-empty database; restores into an empty one and says what comes next."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.backup import manifest, pg
from apps.crypto import keys as crypto_keys
from tests.backup.support import backup, fill

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _restore(directory, gpg_keys, database: str, store, *extra: str) -> subprocess.CompletedProcess[str]:
    config = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{config['USER']}@{config['HOST']}:{config['PORT']}/{database}",
        MESSAGE_STORE_DIR=str(store),
        BACKUP_SIGNING_KEY_FILE=str(gpg_keys.signing_public),
        MSSANTE_TESTING="1",
    )
    args = [
        sys.executable,
        "manage.py",
        "restore",
        str(directory),
        "--secret-key",
        str(gpg_keys.secret),
        *extra,
    ]
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=settings.BASE_DIR)


def test_it_refuses_a_non_empty_database_and_restores_into_an_empty_one(
    backup_settings, gpg_keys, scratch_db, tmp_path, alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    fill(backup_settings, alice_bal, cardio_bal, pharmacy_bal, dr_alice)
    directory = tmp_path / "backup"
    backup(directory)
    with pytest.raises(CommandError, match="n'est pas vide"):  # this very test database
        call_command("restore", str(directory), secret_key=str(gpg_keys.secret))

    pg.create_database(scratch_db)
    store = tmp_path / "restored-store"
    done = _restore(directory, gpg_keys, scratch_db, store)

    assert done.returncode == 0, done.stderr
    assert "Étapes suivantes" in done.stdout and "manage.py migrate" in done.stdout
    assert crypto_keys.master_key_ring().current_kid in done.stdout  # the master key versions needed
    with pg.connect(pg.db_settings(scratch_db)) as conn:
        assert pg.table_counts(conn)["messaging_message"] == 3
    body, _data, _sig = manifest.read(directory)
    restored = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()}
    assert {name.removeprefix("blobs/") for name in body["files"] if name.startswith("blobs/")} == restored

    forced = _restore(directory, gpg_keys, scratch_db, store, "--force")
    assert forced.returncode == 0, forced.stderr
