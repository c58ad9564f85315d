"""The manifest of a backup: every file with its size and SHA-256, the row counts, signed by the platform.

`manifest.json` is canonical JSON (sorted keys) so its bytes, and so its signature, do not depend on who
wrote it; `manifest.json.asc` is the detached OpenPGP signature of those bytes by the platform's backup
signing key. Anyone with that key's public half checks it with `gpg --verify manifest.json.asc`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "mssante-backup/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.asc"
DUMP = "database.dump.gpg"
BLOBS = "blobs"
CHUNK = 1024 * 1024


class ManifestError(Exception):
    """The backup directory does not hold a readable, complete manifest."""


def to_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"


def read(directory: Path) -> tuple[dict[str, Any], bytes, bytes]:
    """(manifest, its bytes, its signature bytes)."""
    path, signature = directory / MANIFEST, directory / SIGNATURE
    if not path.is_file():
        raise ManifestError(f"{path} : pas de manifeste (pas une sauvegarde, ou sauvegarde jamais terminée)")
    if not signature.is_file():
        raise ManifestError(f"{signature} : manifeste non signé (sauvegarde jamais terminée)")
    data = path.read_bytes()
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"{path} : JSON illisible ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"{path} : format inconnu {manifest.get('format')!r} (attendu : {FORMAT})")
    return manifest, data, signature.read_bytes()


def sha256_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@dataclass
class FileCheck:
    checked: int = 0
    bytes: int = 0
    problems: list[str] | None = None


def check_files(directory: Path, files: dict[str, dict[str, Any]]) -> FileCheck:
    """Every listed file present with its size and SHA-256; nothing unlisted under blobs/."""
    result = FileCheck(problems=[])
    problems = result.problems
    assert problems is not None
    for relative, expected in sorted(files.items()):
        path = directory / relative
        if not path.is_file():
            problems.append(f"{relative} : absent (listé dans le manifeste, {expected['size']} octets)")
            continue
        size, digest = sha256_file(path)
        if size != expected["size"]:
            problems.append(
                f"{relative} : {size} octets au lieu des {expected['size']} du manifeste (tronqué ou allongé)"
            )
        elif digest != expected["sha256"]:
            problems.append(
                f"{relative} : SHA-256 {digest} au lieu de {expected['sha256']} dans le manifeste "
                "(fichier altéré ou endommagé)"
            )
        result.checked += 1
        result.bytes += size
    blob_root = directory / BLOBS
    if blob_root.is_dir():
        for path in sorted(blob_root.rglob("*")):
            relative = path.relative_to(directory).as_posix()
            if path.is_file() and relative not in files:
                problems.append(f"{relative} : présent mais absent du manifeste (ajouté après la sauvegarde)")
    return result
