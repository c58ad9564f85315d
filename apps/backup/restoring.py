"""What verification and restore share: checking a backup directory, and loading it into a database.

`check_backup` needs no secret: the manifest's signature by the platform's signing key, then the size and
SHA-256 of every file. `load` decrypts the dump as a stream into pg_restore (the plaintext dump never
touches the disk) and copies the blob files.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.crypto import keys as crypto_keys

from . import blobstore, keys, manifest, pg
from .gpg import BackupKeyError, temporary_home
from .progress import Say, Throttled, human


@dataclass
class Checked:
    manifest: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0


def check_backup(directory: Path, *, signer_key_file: str | None, say: Say) -> Checked:
    body, data, signature = manifest.read(directory)
    checked = Checked(body)
    with temporary_home() as pgp:
        expected = keys.import_signature_checker(pgp, signer_key_file)
        try:
            signer = pgp.verify_detached(data, signature)
        except BackupKeyError as exc:
            checked.problems.append(f"{manifest.SIGNATURE} : {exc}")
            return checked
    if signer != expected:
        checked.problems.append(
            f"{manifest.SIGNATURE} : signé par {signer}, pas par la clé attendue {expected}"
        )
        return checked
    say(f"Manifeste signé par {signer} ; contrôle de {len(body['files'])} fichiers…")
    result = manifest.check_files(directory, body["files"])
    checked.problems.extend(result.problems or [])
    checked.files, checked.bytes = result.checked, result.bytes
    return checked


def load(directory: Path, secret: keys.SecretKey, config: dict[str, Any], blob_root: Path, say: Say) -> None:
    """Restore the dump into the (empty) database of `config` and the blobs into `blob_root`."""
    with temporary_home() as pgp:
        pgp.import_key(secret.armored, what="backup secret key", secret=True)
        with pg.connect(config) as conn:
            version = pg.server_version(conn)
        pg.check_client("pg_restore", version)
        process = pg.start_restore(config)
        assert process.stdin is not None and process.stderr is not None
        tick, fed = Throttled(say), [0]

        def feed(chunk: bytes) -> None:
            process.stdin.write(chunk)  # type: ignore[union-attr]
            fed[0] += len(chunk)
            tick(f"  restauration de la base : {human(fed[0])} déchiffrés")

        try:
            with open(directory / manifest.DUMP, "rb") as source:
                pgp.decrypt_stream(source, feed, passphrase=secret.passphrase)
        except BrokenPipeError:
            pass  # pg_restore stopped: its exit status and message below say why
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        errors = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise pg.PostgresError(
                f"pg_restore a échoué (code {process.returncode}) : {errors.strip()[-800:]}"
            )
    tick(f"  base restaurée : {human(fed[0])}", force=True)
    btick = Throttled(say)
    count = blobstore.restore_store(
        directory / manifest.BLOBS,
        blob_root,
        lambda n, total: btick(f"  blocs : {n} fichiers, {human(total)}"),
    )
    btick(f"  blocs restaurés : {count} fichiers", force=True)


def ring_entries(master_keys: str | None) -> str:
    """MASTER_KEYS text for a child process: the given one, or this process's ring."""
    if master_keys:
        crypto_keys.MasterKeyRing.parse(master_keys)  # a malformed entry fails here, with its variable name
        return master_keys
    ring = crypto_keys.master_key_ring()
    return ",".join(f"{kid}:{base64.b64encode(ring.get(kid)).decode()}" for kid in ring.kids)


def run_child(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False)
