"""OpenPGP through python-gnupg and Debian's gpg, in a temporary GNUPGHOME per run (docs/decisions/0017).

Nothing is imported into a long-lived keyring: each run makes a fresh home directory, imports the keys it
is given, does its work and then stops that home's gpg-agent and deletes it, so no secret key outlives the
run on disk or in an agent. Passphrases go to gpg on its standard input (`--passphrase-fd 0`, python-gnupg's
way), never on a command line. Data is streamed: a dump of tens of gigabytes never sits in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import gnupg

CHUNK = 1024 * 1024
_SHORT_TMP = "/tmp"  # noqa: S108 (mkdtemp makes a private 0700 directory in it)


class BackupKeyError(Exception):
    """A key is missing, unreadable or not of the expected kind; the message says which and why."""


class OpenPGP:
    """One temporary GNUPGHOME and the keys imported into it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.gpg = gnupg.GPG(gnupghome=str(home))
        self.gpg.buffer_size = CHUNK  # python-gnupg copies 16 KiB at a time by default

    def import_key(self, armored: str, *, what: str, secret: bool = False) -> str:
        """Import one key; returns its primary fingerprint."""
        result = self.gpg.import_keys(armored)
        fingerprints = [fp for fp in (result.fingerprints or []) if fp]
        if not fingerprints:
            raise BackupKeyError(f"{what}: no OpenPGP key could be read ({result.stderr.strip()[-200:]})")
        fingerprint = fingerprints[0]
        if secret and not any(key["fingerprint"] == fingerprint for key in self.gpg.list_keys(secret=True)):
            raise BackupKeyError(f"{what}: key {fingerprint} is a public key, its secret half is needed")
        return fingerprint

    def encrypt_stream(self, source: IO[bytes], recipient: str, output: Path) -> tuple[int, str]:
        """Encrypt `source` to `recipient` into `output`; returns (bytes written, SHA-256 of them)."""
        digest, written = hashlib.sha256(), 0
        with open(output, "wb") as sink:

            def on_data(chunk: bytes) -> bool:
                nonlocal written
                sink.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                return False  # not kept in memory by python-gnupg

            self.gpg.on_data = on_data
            try:
                # The dump is already compressed: gpg compressing it again would only cost CPU.
                result = self.gpg.encrypt_file(
                    source, recipient, armor=False, always_trust=True, extra_args=["--compress-algo", "none"]
                )
            finally:
                self.gpg.on_data = None
            sink.flush()
        if not result.ok:
            raise BackupKeyError(f"encryption to {recipient} failed: {result.status} {result.stderr[-300:]}")
        return written, digest.hexdigest()

    def decrypt_stream(
        self, source: IO[bytes], sink: Callable[[bytes], Any], *, passphrase: str | None = None
    ) -> None:
        """Decrypt `source`, handing plaintext chunks to `sink` as they come (never all in memory)."""

        def on_data(chunk: bytes) -> bool:
            if chunk:
                sink(chunk)
            return False

        self.gpg.on_data = on_data
        try:
            result = self.gpg.decrypt_file(source, passphrase=passphrase or None, always_trust=True)
        finally:
            self.gpg.on_data = None
        failure = getattr(result, "on_data_failure", None)
        if failure is not None:  # the reader (pg_restore) stopped taking data: its own error says why
            raise failure
        if not result.ok:
            raise BackupKeyError(
                f"l'export ne se déchiffre pas : {result.status} ({_last_line(result.stderr)})"
            )

    def sign_detached(self, data: bytes, signer: str, *, passphrase: str | None = None) -> bytes:
        result = self.gpg.sign(data, keyid=signer, detach=True, binary=False, passphrase=passphrase or None)
        if not result.data:
            raise BackupKeyError(
                f"signing with {signer} failed: {result.status} ({_last_line(result.stderr)})"
            )
        return bytes(result.data)

    def verify_detached(self, data: bytes, signature: bytes) -> str:
        """The fingerprint of the key that made a valid signature of `data`, or BackupKeyError."""
        with tempfile.NamedTemporaryFile(dir=self.home, suffix=".sig") as sig_file:
            sig_file.write(signature)
            sig_file.flush()
            verified = self.gpg.verify_data(sig_file.name, data)
        if not verified.valid:
            raise BackupKeyError(
                f"signature du manifeste invalide ({verified.status or 'pas de signature'} ; "
                f"clé {verified.key_id or 'inconnue'})"
            )
        return str(verified.pubkey_fingerprint or verified.fingerprint)


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1][-200:] if lines else "no detail"


def stop_agent(home: Path) -> None:
    """Stop every gpg daemon (agent, dirmngr) of this home: nothing keeps a secret key after the run."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True, timeout=10
        )


@contextlib.contextmanager
def temporary_home() -> Iterator[OpenPGP]:
    # Short path under /tmp: the agent's socket lives in it and Unix socket paths are limited to 108 bytes.
    home = Path(
        tempfile.mkdtemp(prefix="mssante-gpg-", dir=_SHORT_TMP if Path(_SHORT_TMP).is_dir() else None)
    )
    try:
        home.chmod(0o700)
        yield OpenPGP(home)
    finally:
        stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def read_key_file(path: str | Path, *, what: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupKeyError(f"{what} ({path}) cannot be read: {exc}") from exc
