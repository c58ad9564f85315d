"""The certificate and key a listener starts with: the configured files, or the development PKI under
`var/pki` for `make run` and tests (`--dev-pki`), shared by every local listener (SMTP, submission, IMAP)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from apps.gateway.pki import ensure_dev_pki


def listener_files(cert: str, key: str, *, dev_pki: bool, settings_names: str) -> tuple[str, str]:
    if dev_pki:
        if not (settings.DEV or settings.TESTING):
            raise CommandError("--dev-pki is for `make run` and tests only (MSSANTE_DEV=1)")
        pki = ensure_dev_pki(Path(settings.VAR_DIR) / "pki", hostname="localhost")
        cert, key = str(pki.cert_file), str(pki.key_file)
    if not cert or not key:
        raise CommandError(f"{settings_names} must be set")
    return cert, key
