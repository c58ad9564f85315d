"""Getting the liste blanche bytes: a local file or an HTTPS URL, hashed while streamed.

Downloads go to a temporary file (never fully in memory) with a timeout and a size cap. Plain http is only
allowed to a loopback address (a local mirror, the tests): anything else must be HTTPS. ANS serves the list
with an IGC-Santé chain that public trust stores do not hold, hence LISTE_BLANCHE_CA_FILE.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

CHUNK = 64 * 1024
_HEX64 = re.compile(r"\b([0-9a-fA-F]{64})\b")


class SourceError(Exception):
    """The list or its checksum could not be obtained; the message is French."""


@dataclass
class FetchedFile:
    path: Path
    sha256: str
    size: int

    def chunks(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk


def is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in {"http", "https"}


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() == "https":
        return
    host = (parts.hostname or "").lower()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme.lower() != "http" or not loopback:
        raise SourceError(f"Adresse refusée « {url} » : la liste blanche ne se télécharge qu'en HTTPS.")


def _ssl_context() -> ssl.SSLContext:
    cafile = getattr(settings, "LISTE_BLANCHE_CA_FILE", "") or None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs we would accept ourselves: never an https -> http downgrade."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201, PLR0913
        _check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_url(url: str):  # noqa: ANN202 - urllib's response type is private
    _check_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": "mssante-web liste-blanche"})  # noqa: S310
    timeout = float(getattr(settings, "LISTE_BLANCHE_TIMEOUT", 30))
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=_ssl_context()), _CheckedRedirects
    )
    try:
        return opener.open(request, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SourceError(f"Téléchargement impossible depuis « {url} » : {exc}.") from exc


def _copy_capped(stream, out, limit: int, label: str) -> tuple[str, int]:  # noqa: ANN001
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise SourceError(f"« {label} » dépasse la taille maximale admise ({limit} octets).")
            digest.update(chunk)
            out.write(chunk)
    except (OSError, TimeoutError) as exc:
        raise SourceError(f"Lecture interrompue de « {label} » : {exc}.") from exc
    return digest.hexdigest(), size


@contextlib.contextmanager
def fetch(source: str) -> Iterator[FetchedFile]:
    """Yield the list as a local file with its SHA-256; a download is removed when the block ends."""
    limit = int(getattr(settings, "LISTE_BLANCHE_MAX_BYTES", 64 * 1024 * 1024))
    if not is_url(source):
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"Fichier introuvable : « {source} ».")
        with path.open("rb") as stream:
            sha, size = _copy_capped(stream, _NullWriter(), limit, source)
        yield FetchedFile(path=path, sha256=sha, size=size)
        return
    handle, name = tempfile.mkstemp(prefix="liste-blanche-", suffix=".xml")
    try:
        with os.fdopen(handle, "wb") as out, _open_url(source) as response:
            sha, size = _copy_capped(response, out, limit, source)
        yield FetchedFile(path=Path(name), sha256=sha, size=size)
    finally:
        Path(name).unlink(missing_ok=True)


class _NullWriter:
    def write(self, _chunk: bytes) -> None:
        return None


def read_checksum(source: str) -> str:
    """The SHA-256 hex published in ANS's `checksum` file (a path or a URL), lowercase."""
    if is_url(source):
        with _open_url(source) as response:
            try:
                raw = response.read(4096)
            except (OSError, TimeoutError) as exc:
                raise SourceError(f"Lecture interrompue de « {source} » : {exc}.") from exc
    else:
        try:
            raw = Path(source).read_bytes()[:4096]
        except OSError as exc:
            raise SourceError(f"Somme de contrôle illisible « {source} » : {exc}.") from exc
    match = _HEX64.search(raw.decode("ascii", errors="replace"))
    if not match:
        raise SourceError(f"« {source} » ne contient pas d'empreinte SHA-256 (64 caractères hexadécimaux).")
    return match.group(1).lower()
