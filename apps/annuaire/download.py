"""Bring an extraction source to a local file: a path as is, an https URL streamed to a temp file."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import requests

CHUNK = 1024 * 1024
DOWNLOAD_TIMEOUT = (10, 120)  # connect, read (seconds between bytes)


class DownloadError(RuntimeError):
    pass


@contextlib.contextmanager
def local_copy(source: str) -> Iterator[Path]:
    """Yield a local path for `source`; a downloaded file is removed afterwards."""
    if not re.match(r"^[a-z]+://", source):
        yield Path(source)
        return
    if not source.startswith("https://"):
        raise DownloadError(f"Seules les sources https:// sont acceptées ({source}).")
    with tempfile.TemporaryDirectory(prefix="annuaire-") as directory:
        target = Path(directory) / "extraction"
        try:
            with requests.get(source, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    # Streamed in 1 MiB chunks: the ZIP is ~20 MB today, the memory stays flat anyway.
                    shutil.copyfileobj(response.raw, out, CHUNK)
        except requests.RequestException as exc:
            raise DownloadError(f"Téléchargement impossible de {source} : {exc}") from exc
        yield target
