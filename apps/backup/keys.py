"""Which OpenPGP keys a backup run uses, from the settings or from the command line.

- the operator's backup key: its public half (BACKUP_PUBLIC_KEY_FILE) encrypts dumps on the platform; its
  secret half stays off the platform and is handed to `backup_verify`/`restore` only when they run
  (`--secret-key FILE`; passphrase from BACKUP_SECRET_KEY_PASSPHRASE[_FILE] or asked on the terminal);
- the platform's signing key (BACKUP_SIGNING_KEY_FILE, a secret key kept like the other secrets): signs
  every manifest; its public half, escrowed with the backup key, checks them on a new machine.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass

from django.conf import settings

from .gpg import BackupKeyError, OpenPGP, read_key_file


@dataclass(frozen=True)
class SecretKey:
    armored: str
    passphrase: str | None


def _setting(name: str) -> str:
    return str(getattr(settings, name, "") or "")


def import_recipient(pgp: OpenPGP) -> str:
    path = _setting("BACKUP_PUBLIC_KEY_FILE")
    if not path:
        raise BackupKeyError("BACKUP_PUBLIC_KEY_FILE is not set: the operator's backup public key is needed")
    return pgp.import_key(read_key_file(path, what="BACKUP_PUBLIC_KEY_FILE"), what="BACKUP_PUBLIC_KEY_FILE")


def import_signer(pgp: OpenPGP) -> str:
    path = _setting("BACKUP_SIGNING_KEY_FILE")
    if not path:
        raise BackupKeyError(
            "BACKUP_SIGNING_KEY_FILE is not set: the platform's manifest signing key is needed"
        )
    armored = read_key_file(path, what="BACKUP_SIGNING_KEY_FILE")
    return pgp.import_key(armored, what="BACKUP_SIGNING_KEY_FILE", secret=True)


def signing_passphrase() -> str | None:
    return _setting("BACKUP_SIGNING_PASSPHRASE") or None


def import_signature_checker(pgp: OpenPGP, signer_key_file: str | None) -> str:
    """The key manifests must be signed by: given on the command line (a new machine), else the platform's."""
    path = signer_key_file or _setting("BACKUP_SIGNING_KEY_FILE")
    if not path:
        raise BackupKeyError(
            "no key to check the manifest signature: pass --signer-key FILE "
            "(the platform's signing public key)"
        )
    return pgp.import_key(read_key_file(path, what="signing key"), what="signing key")


def secret_key(path: str | None) -> SecretKey | None:
    """The backup secret key given to this run, or the one a drill host is configured with; None: none."""
    path = path or _setting("BACKUP_VERIFY_SECRET_KEY_FILE")
    if not path:
        return None
    armored = read_key_file(path, what="backup secret key")
    passphrase = settings.SECRET_READER("BACKUP_SECRET_KEY_PASSPHRASE")
    if passphrase is None and sys.stdin.isatty() and "PRIVATE KEY" in armored:
        passphrase = (
            getpass.getpass("Phrase de passe de la clé secrète de sauvegarde (vide si aucune) : ") or None
        )
    return SecretKey(armored, passphrase)
