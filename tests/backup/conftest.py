"""Fixtures for backup tests: OpenPGP keys made once per session, settings pointing at them, scratch names.

Keys are Ed25519/Curve25519 (made in milliseconds, unlike RSA) in a throwaway GNUPGHOME. The operator's
backup key has a passphrase, given to the code under test through BACKUP_SECRET_KEY_PASSPHRASE as an
operator would (never on a command line).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gnupg
import pytest
from django.conf import settings as django_settings

from apps.backup import pg
from apps.backup.gpg import temporary_home

PASSPHRASE = "phrase de passe de test"


@dataclass(frozen=True)
class Keys:
    public: Path  # the operator's backup key, public half (on the platform)
    secret: Path  # its secret half (off the platform: given to verify/restore)
    signing: Path  # the platform's signing key (secret)
    signing_public: Path
    other_secret: Path  # somebody else's key: cannot open the dump


def _make_key(gpg: gnupg.GPG, name: str, passphrase: str | None) -> str:
    params = gpg.gen_key_input(
        key_type="EDDSA",
        key_curve="ed25519",
        subkey_type="ECDH",
        subkey_curve="cv25519",
        name_real=name,
        name_email=f"{name.lower().replace(' ', '.')}@test.invalid",
        expire_date=0,
        passphrase=passphrase,
        no_protection=passphrase is None,
    )
    key = gpg.gen_key(params)
    assert key.fingerprint, key.stderr
    return str(key.fingerprint)


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory) -> Keys:
    out = tmp_path_factory.mktemp("gpg-keys")
    with temporary_home() as pgp:
        gpg = pgp.gpg
        backup = _make_key(gpg, "Operateur Sauvegarde", PASSPHRASE)
        signing = _make_key(gpg, "Plateforme Signature", None)
        other = _make_key(gpg, "Quelqu Un", None)
        files = {
            "public": gpg.export_keys(backup),
            "secret": gpg.export_keys(backup, secret=True, passphrase=PASSPHRASE),
            "signing": gpg.export_keys(signing, secret=True, expect_passphrase=False),
            "signing_public": gpg.export_keys(signing),
            "other_secret": gpg.export_keys(other, secret=True, expect_passphrase=False),
        }
    paths = {}
    for name, armored in files.items():
        assert "BEGIN PGP" in armored, name
        paths[name] = out / f"{name}.asc"
        paths[name].write_text(armored, encoding="ascii")
    return Keys(**paths)


@pytest.fixture
def backup_settings(settings, gpg_keys, tmp_path, monkeypatch):
    settings.BACKUP_PUBLIC_KEY_FILE = str(gpg_keys.public)
    settings.BACKUP_SIGNING_KEY_FILE = str(gpg_keys.signing)
    settings.BACKUP_VERIFY_SECRET_KEY_FILE = ""
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    monkeypatch.setenv("BACKUP_SECRET_KEY_PASSPHRASE", PASSPHRASE)
    return settings


def scratch_prefix() -> str:
    """test_mssante_hN_restore: the shared server's scratch databases of this suite, nobody else's."""
    base = re.sub(r"_gw\d+$", "", str(django_settings.DATABASES["default"]["NAME"]))
    return f"{base}_restore"


@pytest.fixture
def scratch_db() -> Iterator[str]:
    name = f"{scratch_prefix()}_{secrets.token_hex(4)}"
    yield name
    pg.drop_database(name)
