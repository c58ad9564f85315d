"""Why a TLS session with another operator failed, in words the sender and the administrator understand.

Outbound delivery verifies the remote's certificate (trust-space CAs, host name, dates). A failure there is
not "the server is unreachable": the sender's timeline and the logs name it — certificate not trusted, name
or IP address mismatch, expired, revoked, or our own certificate refused by the remote. Such failures stay
temporary (the remote operator may renew or fix its certificate; retries end in a bounce that keeps the
reason).

The outbound certificate policy and revocation checks (apps/gateway/outbound_tls.py) raise their own
`CertificateRefused` / `CertificateRevoked`, temporary failures whose French text already names the reason.
A future check that raises a bare exception class registers it here (`register_tls_failure`).
"""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass


class TlsFailureKind(enum.StrEnum):
    UNTRUSTED = "untrusted"
    NAME_MISMATCH = "name_mismatch"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    OUR_CERTIFICATE_REFUSED = "our_certificate_refused"
    CLOSED_AFTER_HANDSHAKE = "closed_after_handshake"
    HANDSHAKE = "handshake"


# OpenSSL X509_V_ERR_* codes (x509_vfy.h) carried by ssl.SSLCertVerificationError.verify_code.
_VERIFY_CODES = {
    2: TlsFailureKind.UNTRUSTED,  # unable to get issuer certificate
    9: TlsFailureKind.NOT_YET_VALID,
    10: TlsFailureKind.EXPIRED,
    18: TlsFailureKind.UNTRUSTED,  # self-signed
    19: TlsFailureKind.UNTRUSTED,  # self-signed certificate in chain
    20: TlsFailureKind.UNTRUSTED,  # unable to get local issuer certificate
    21: TlsFailureKind.UNTRUSTED,  # unable to verify the first certificate
    23: TlsFailureKind.REVOKED,
    62: TlsFailureKind.NAME_MISMATCH,  # hostname mismatch
    64: TlsFailureKind.NAME_MISMATCH,  # IP address mismatch
}
# Alerts the remote sends when it refuses the client certificate we presented.
_REFUSED_OURS = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "CERTIFICATE_UNKNOWN", "REVOKED")

_CERT = "Le certificat du serveur de messagerie de {domain}"
_FRENCH = {
    TlsFailureKind.UNTRUSTED: _CERT + " ({host}) n'est pas reconnu : il n'a pas été émis par une autorité "
    "de l'espace de confiance",
    TlsFailureKind.NAME_MISMATCH: _CERT + " ne correspond pas au nom ou à l'adresse IP « {host} » auquel il "
    "a été contacté",
    TlsFailureKind.EXPIRED: _CERT + " ({host}) a expiré",
    TlsFailureKind.NOT_YET_VALID: _CERT + " ({host}) n'est pas encore valide",
    TlsFailureKind.REVOKED: _CERT + " ({host}) est révoqué",
    TlsFailureKind.OUR_CERTIFICATE_REFUSED: "Le serveur de messagerie de {domain} ({host}) a refusé le "
    "certificat de notre plateforme",
    TlsFailureKind.CLOSED_AFTER_HANDSHAKE: "Le serveur de messagerie de {domain} ({host}) a fermé la "
    "connexion juste après la négociation TLS : il n'a probablement pas accepté le certificat de notre "
    "plateforme",
    TlsFailureKind.HANDSHAKE: "La connexion sécurisée (TLS) avec le serveur de messagerie de {domain} "
    "({host}) a échoué",
}


class ClosedAfterHandshake(ConnectionError):
    """The remote hung up on our first command after STARTTLS. With TLS 1.3 a server refusing our client
    certificate says so only after the handshake, and Python often sees the closed connection rather than
    the alert."""


_registered: dict[type[BaseException], TlsFailureKind] = {
    ClosedAfterHandshake: TlsFailureKind.CLOSED_AFTER_HANDSHAKE
}


def register_tls_failure(exc_type: type[BaseException], kind: TlsFailureKind) -> None:
    """Map an exception class raised by a certificate check of our own (e.g. revocation) to a kind."""
    _registered[exc_type] = kind


def registered_types() -> tuple[type[BaseException], ...]:
    return tuple(_registered)


@dataclass(frozen=True)
class TlsFailure:
    kind: TlsFailureKind
    detail: str  # OpenSSL's or the check's own words, for the log and after the French reason

    def french(self, domain: str, host: str) -> str:
        reason = _FRENCH[self.kind].format(domain=domain, host=host)
        return f"{reason} ({self.detail[:200]}) ; nouvel essai prévu."


def classify(exc: BaseException) -> TlsFailure | None:
    """The TLS failure `exc` stands for, or None when it is not one (a refused connection, a timeout…).
    smtplib turns a TLS alert read after the handshake (TLS 1.3 sends the refusal of our client certificate
    then) into SMTPServerDisconnected: the TLS error it was raised from is looked at too."""
    seen = 0
    while exc is not None and seen < 3:
        failure = _classify_one(exc)
        if failure is not None:
            return failure
        exc, seen = exc.__cause__ or exc.__context__, seen + 1  # type: ignore[assignment]
    return None


def _classify_one(exc: BaseException) -> TlsFailure | None:
    for exc_type, kind in _registered.items():
        if isinstance(exc, exc_type):
            return TlsFailure(kind, str(exc) or exc_type.__name__)
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", None)
        message = getattr(exc, "verify_message", "") or str(exc)
        return TlsFailure(_VERIFY_CODES.get(code or 0, TlsFailureKind.UNTRUSTED), str(message))
    if isinstance(exc, ssl.SSLError):
        reason = str(getattr(exc, "reason", "") or "")
        if any(marker in reason.upper() for marker in _REFUSED_OURS):
            return TlsFailure(TlsFailureKind.OUR_CERTIFICATE_REFUSED, reason)
        return TlsFailure(TlsFailureKind.HANDSHAKE, reason or str(exc))
    return None
