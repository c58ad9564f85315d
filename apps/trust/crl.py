"""Certificate revocation lists: where they come from, reading one, checking it against its issuer.

Sources, in this order, without duplicates: the CRL distribution points of the configured CA certificates
(GATEWAY_CA_FILES, GATEWAY_OUTBOUND_CA_FILES, CRL_CA_FILES), of the platform's own certificates and of the
peer certificates already seen (an IGC-Santé intermediate CA's CRL is named in the certificates it issues,
not in its own certificate), then CRL_EXTRA_SOURCES (URLs or file paths). CRLs are fetched over plain HTTP
as IGC-Santé publishes them: their integrity rests on the CA's signature, verified here before anything is
kept, not on the transport. LDAP distribution points are skipped (list an HTTP copy in CRL_EXTRA_SOURCES).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID
from django.conf import settings

logger = logging.getLogger(__name__)


class CrlRejected(Exception):
    """A CRL that must not be used; `code` is stable (download, format, unknown_issuer, signature,
    dates), the message French (it reaches the administrators)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def issuer_key(name: x509.Name) -> str:
    """The key CRLs and certificates are matched on: SHA-256 of the DER of the issuer's Name."""
    return hashlib.sha256(name.public_bytes()).hexdigest()


# --- The CA certificates and the sources -----------------------------------------------------------------
def ca_files() -> list[str]:
    names: list[str] = []
    for setting in ("GATEWAY_CA_FILES", "GATEWAY_OUTBOUND_CA_FILES", "CRL_CA_FILES"):
        names.extend(str(path) for path in getattr(settings, setting, []) or [] if path)
    return list(dict.fromkeys(names))


@functools.lru_cache(maxsize=16)
def _certificates_in(path: str, mtime: float) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(Path(path).read_bytes()))


def load_certificates(paths: Iterable[str]) -> list[x509.Certificate]:
    """Every certificate of these PEM files; an unreadable file is logged and skipped."""
    found: list[x509.Certificate] = []
    for path in paths:
        try:
            found.extend(_certificates_in(path, Path(path).stat().st_mtime))
        except (OSError, ValueError) as exc:
            logger.error("trust: cannot read certificates from %s: %s", path, exc)
    return found


def ca_certificates() -> list[x509.Certificate]:
    return load_certificates(ca_files())


def own_certificate_files() -> list[str]:
    """The platform's own certificates (server/client of the gateway, submission, S/MIME signature)."""
    names = [
        getattr(settings, name, "") or ""
        for name in ("GATEWAY_CERT_FILE", "SUBMISSION_CERT_FILE", "SMIME_CERT_FILE")
    ]
    return list(dict.fromkeys(name for name in names if name))


def distribution_points(certificate: x509.Certificate) -> list[str]:
    """The HTTP(S) URLs of the certificate's CRL distribution points."""
    try:
        extension = certificate.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in extension.value:  # type: ignore[attr-defined]
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier) and is_http(name.value):
                urls.append(name.value)
    return urls


def is_http(source: str) -> bool:
    return urlsplit(source).scheme.lower() in {"http", "https"}


def sources(seen_urls: Iterable[str] = ()) -> list[str]:
    """Every CRL source to fetch (see the module docstring), duplicates removed, order kept."""
    found: list[str] = []
    for certificate in ca_certificates() + load_certificates(own_certificate_files()):
        found.extend(distribution_points(certificate))
    found.extend(seen_urls)
    found.extend(str(source) for source in getattr(settings, "CRL_EXTRA_SOURCES", []) or [] if source)
    return list(dict.fromkeys(found))


# --- Fetching and checking one CRL -----------------------------------------------------------------------
def read_source(source: str) -> bytes:
    """The bytes of a CRL URL or file, at most CRL_MAX_BYTES; raises CrlRejected("download")."""
    limit = int(getattr(settings, "CRL_MAX_BYTES", 64 * 1024 * 1024))
    try:
        if is_http(source):
            timeout = float(getattr(settings, "CRL_FETCH_TIMEOUT", 30))
            headers = {"User-Agent": "mssante-crl-fetcher"}
            request = urllib.request.Request(source, headers=headers)  # noqa: S310 (http(s) only, checked)
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                data = response.read(limit + 1)
        else:
            path = Path(source.removeprefix("file://"))
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
    except (OSError, ValueError) as exc:
        raise CrlRejected("download", f"Téléchargement impossible de « {source} » : {exc}") from exc
    if len(data) > limit:
        raise CrlRejected("download", f"« {source} » dépasse la taille maximale de {limit} octets.")
    return data


def parse(data: bytes, source: str) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CrlRejected("format", f"« {source} » n'est pas une liste de révocation lisible.") from exc


@dataclass(frozen=True)
class CheckedCrl:
    crl: x509.CertificateRevocationList
    issuer: x509.Certificate
    der: bytes
    number: int | None

    @property
    def this_update(self) -> dt.datetime:
        return self.crl.last_update_utc

    @property
    def next_update(self) -> dt.datetime | None:
        return self.crl.next_update_utc


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return None


def _may_sign_crls(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign)
    except x509.ExtensionNotFound:
        return True  # no key usage extension: not restricted


def check(data: bytes, source: str, issuers: list[x509.Certificate]) -> CheckedCrl:
    """Parse the CRL and verify it was signed by one of `issuers` (the configured CAs) whose name it
    bears; raises CrlRejected saying why not."""
    crl = parse(data, source)
    candidates = [cert for cert in issuers if cert.subject == crl.issuer]
    if not candidates:
        raise CrlRejected(
            "unknown_issuer",
            f"La LCR de « {source} » est émise par « {crl.issuer.rfc4514_string()} », qui n'est pas une "
            "autorité de certification configurée.",
        )
    for issuer in candidates:
        if _may_sign_crls(issuer) and crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            break
    else:
        raise CrlRejected(
            "signature",
            f"La signature de la LCR de « {source} » ne correspond pas à la clé de son émetteur "
            f"« {crl.issuer.rfc4514_string()} » : LCR ignorée.",
        )
    next_update = crl.next_update_utc
    if next_update is not None and next_update <= crl.last_update_utc:
        raise CrlRejected("dates", f"La LCR de « {source} » a une date de mise à jour incohérente.")
    return CheckedCrl(crl, issuer, crl.public_bytes(Encoding.DER), _crl_number(crl))


def revoked_serials(der: bytes) -> tuple[x509.Name, frozenset[int]]:
    """The issuer of a stored CRL and the serial numbers it lists (parsed once per process and CRL)."""
    crl = x509.load_der_x509_crl(der)
    return crl.issuer, frozenset(entry.serial_number for entry in crl)
