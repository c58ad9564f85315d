"""The remote server's certificate on outbound deliveries: the outbound certificate policy and revocation.

Called by `outbound._send_once` right after STARTTLS, before MAIL FROM: a refused certificate ends the
session with QUIT, so nothing of the message reaches that server. The TLS layer already verified the chain
against the trust-space CAs, the validity dates and the host name; here the certificate must in addition
(Ref#2 CONF.27, ECO.1.1.5/6):
- be valid now (checked again: the TLS layer's own refusal is translated into a named reason below);
- carry the extended key usages GATEWAY_OUTBOUND_EXTENDED_KEY_USAGES (server and client authentication),
  the key usages GATEWAY_OUTBOUND_KEY_USAGES and a certificate policy equal to or under one of
  GATEWAY_OUTBOUND_POLICY_OIDS (the IGC-Santé server certificate profile);
- not be revoked (`apps.trust.revocation.check_revocation`, the one revocation policy).
Each refusal is a `CertificateRefused` (a TemporaryFailure: the delivery is deferred and retried, with a
4.7.5 reason naming the cause on the sender's timeline); a revoked certificate is a `CertificateRevoked`,
which also alerts the administrators. Every refusal is kept for the per-operator TLS failures page.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from typing import NoReturn

from cryptography import x509
from django.conf import settings

from apps.messaging.delivery.transports import TemporaryFailure
from apps.trust import cert_alerts, inventory
from apps.trust.revocation import check_revocation, serial_hex

logger = logging.getLogger(__name__)

ENHANCED_STATUS = "4.7.5"  # RFC 3463 X.7.5: cryptographic failure (the remote's certificate is refused)


class CertificateRefused(TemporaryFailure):
    """The remote server's certificate does not meet the outbound policy; `reason_code` is stable."""

    def __init__(self, reason_code: str, reason: str, *, host: str) -> None:
        super().__init__(
            f"{ENHANCED_STATUS} Certificat du serveur {host} refusé : {reason} "
            "Envoi différé : le message n'a pas été transmis à ce serveur."
        )
        self.reason_code = reason_code
        self.reason = reason
        self.host = host


class CertificateRevoked(CertificateRefused):
    """The remote server presented a certificate its CA revoked: never send to it."""


_UNTRUSTED = "il n'est pas reconnu : il n'a pas été émis par une autorité de l'espace de confiance."
_VERIFY_REASONS = {
    10: ("expired", "il a expiré."),
    9: ("not_yet_valid", "il n'est pas encore valide."),
    18: ("untrusted", "il est auto-signé."),
    2: ("untrusted", _UNTRUSTED),
    19: ("untrusted", _UNTRUSTED),
    20: ("untrusted", _UNTRUSTED),
    21: ("untrusted", _UNTRUSTED),
    26: ("wrong_usage", "son usage n'autorise pas l'authentification d'un serveur."),
    62: ("hostname", "il ne correspond pas au nom ou à l'adresse IP « {host} » auquel il a été contacté."),
    64: ("hostname", "il ne correspond pas au nom ou à l'adresse IP « {host} » auquel il a été contacté."),
}


def starttls(session: smtplib.SMTP, host: str, context: ssl.SSLContext) -> None:
    """STARTTLS, then the outbound policy on the certificate presented; raises CertificateRefused."""
    try:
        session.starttls(context=context)
    except ssl.SSLCertVerificationError as exc:
        code, reason = _VERIFY_REASONS.get(
            exc.verify_code, ("verification", f"vérification impossible ({exc.verify_message}).")
        )
        _refuse(session, CertificateRefused(code, reason.format(host=host), host=host), None)
    except (ssl.SSLError, OSError) as exc:  # a handshake that failed otherwise: kept for the failures page
        inventory.record_tls_failure(
            direction="outbound",
            remote=host,
            reason_code="handshake",
            reason=f"Négociation TLS échouée : {exc}",
        )
        raise
    sock = session.sock
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        _refuse(session, CertificateRefused("no_certificate", "aucun certificat présenté.", host=host), None)
    certificate = x509.load_der_x509_certificate(der)
    problem = policy_problem(certificate)
    if problem is not None:
        _refuse(session, CertificateRefused(problem[0], problem[1], host=host), certificate)
    decision = check_revocation(certificate)
    inventory.note_certificate(certificate, path="outbound", remote=host, decision=decision)
    if decision.revoked:
        _refuse(session, CertificateRevoked("revoked", _revoked_reason(certificate), host=host), certificate)
    if not decision.allowed:
        _refuse(session, CertificateRefused("revocation_unknown", decision.message, host=host), certificate)


def _revoked_reason(certificate: x509.Certificate) -> str:
    return (
        f"il a été révoqué par son autorité de certification (n° {serial_hex(certificate.serial_number)}, "
        f"{certificate.subject.rfc4514_string()})."
    )


def _refuse(
    session: smtplib.SMTP, refusal: CertificateRefused, certificate: x509.Certificate | None
) -> NoReturn:
    """Record the refusal, alert on revocation, end the session politely, raise."""
    logger.warning("outbound: %s", refusal)
    inventory.record_tls_failure(
        direction="outbound",
        remote=refusal.host,
        reason_code=refusal.reason_code,
        reason=refusal.reason,
        certificate=certificate,
    )
    if isinstance(refusal, CertificateRevoked) and certificate is not None:
        serial = serial_hex(certificate.serial_number)
        cert_alerts.mail_admins_once(
            f"revoked:{serial}",
            3600,
            "Certificat révoqué chez un opérateur distant",
            f"Le serveur {refusal.host} présente un certificat révoqué : {refusal.reason}",
            consequence="Aucun message ne lui est transmis ; les envois vers ce serveur restent en attente "
            "et seront réessayés jusqu'à ce qu'il présente un certificat valide.",
        )
    try:
        session.quit()
    except (OSError, smtplib.SMTPException):
        session.close()
    raise refusal


def _has_policy(certificate: x509.Certificate, accepted: list[str]) -> bool:
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return False
    oids = [policy.policy_identifier.dotted_string for policy in policies]
    return any(oid == wanted or oid.startswith(wanted + ".") for oid in oids for wanted in accepted)


def _missing_usages(certificate: x509.Certificate) -> list[str]:
    missing: list[str] = []
    try:
        extended = {
            oid.dotted_string
            for oid in certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        }
    except x509.ExtensionNotFound:
        extended = set()
    missing += [oid for oid in settings.GATEWAY_OUTBOUND_EXTENDED_KEY_USAGES if oid not in extended]
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        missing += [name for name in settings.GATEWAY_OUTBOUND_KEY_USAGES if not getattr(usage, name, False)]
    except x509.ExtensionNotFound:
        missing += list(settings.GATEWAY_OUTBOUND_KEY_USAGES)
    return missing


def policy_problem(certificate: x509.Certificate, now: dt.datetime | None = None) -> tuple[str, str] | None:
    """Why this server certificate does not meet the outbound policy, as (code, French reason), or None."""
    now = now or dt.datetime.now(dt.UTC)
    if now > certificate.not_valid_after_utc:
        return "expired", "il a expiré."
    if now < certificate.not_valid_before_utc:
        return "not_yet_valid", "il n'est pas encore valide."
    missing = _missing_usages(certificate)
    if missing:
        return (
            "wrong_usage",
            f"il ne porte pas les usages attendus d'un serveur IGC-Santé ({', '.join(missing)}).",
        )
    accepted = list(settings.GATEWAY_OUTBOUND_POLICY_OIDS)
    if accepted and not _has_policy(certificate, accepted):
        return "policy", (
            "il ne porte pas la politique de certification attendue d'un serveur IGC-Santé "
            f"({', '.join(accepted)})."
        )
    return None
