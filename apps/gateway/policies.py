"""What the inbound gateway lets in, decided at MAIL FROM and RCPT TO (sync; run in the gateway's DB threads).

Each check returns None when allowed, else the full SMTP reply line. The rules come from elsewhere and are
only applied here: the liste blanche and the peer certificate's DN (`apps.trust.policies`), the BAL's state
and quota (`apps.mailboxes`), and the registered recipient policies (`apps.messaging.recipient_policies`,
where the patients app plugs its rules in) — so an SMTP transaction meets the same rules as the webmail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.x509.oid import NameOID
from django.conf import settings

from apps.gateway.replies import BAD_RECIPIENT_SYNTAX, BAD_SENDER_SYNTAX, reply
from apps.mailboxes.models import Mailbox
from apps.mailboxes.quotas import check_quota
from apps.messaging.recipient_policies import RecipientContext, check_registered_policies
from apps.trust.dn import dn_from_x509_name, reversed_dn
from apps.trust.inventory import note_certificate, record_tls_failure
from apps.trust.models import OperatorCertificateDN
from apps.trust.names import InvalidAddress, InvalidDomainName, normalise_domain, parse_address
from apps.trust.policies import check_address_allowed, peer_certificate_allowed
from apps.trust.revocation import check_revocation
from mssante_lib import fastsql

if TYPE_CHECKING:
    from cryptography import x509


def _format(template_reply, **values: str) -> str:  # noqa: ANN001
    return reply(template_reply.code, template_reply.enhanced, template_reply.text.format(**values))


def _peer_listed_anywhere(peer: x509.Name) -> bool:
    """A null sender (DSN, MDN) names no domain: the peer's DN must then be listed for some active domain."""
    candidate = dn_from_x509_name(peer)
    return OperatorCertificateDN.objects.filter(
        dn_normalised__in=[candidate, reversed_dn(candidate)], is_active=True, domain__is_active=True
    ).exists()


def check_sender(sender: str, peer: x509.Name) -> str | None:
    """MAIL FROM: the sender's domain is in the liste blanche and the peer's certificate is listed for it."""
    if sender == "":
        if _peer_listed_anywhere(peer):
            return None
        return reply(
            550,
            "5.7.1",
            f"Le certificat presente ({peer.rfc4514_string()}) n'appartient a aucun operateur "
            "de la liste blanche MSSante : avis de non-remise refuse.",
        )
    decision = check_address_allowed(sender, direction="inbound")
    if decision.reason == "invalid_address":
        return _format(BAD_SENDER_SYNTAX, reason=decision.message)
    if not decision.allowed:
        return reply(550, "5.7.1", decision.message)
    if not peer_certificate_allowed(decision.domain, peer):
        return reply(
            550,
            "5.7.1",
            f"Le certificat presente ({peer.rfc4514_string()}) n'est pas celui que la liste blanche MSSante "
            f"publie pour le domaine {decision.domain} : expediteur refuse.",
        )
    return None


def _server_name(certificate: x509.Certificate) -> str:
    """How the inventory and the TLS failures page name a peer: its certificate's CN (the SMTP server)."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def check_peer_sender(sender: str, certificate: x509.Certificate) -> str | None:
    """MAIL FROM with the client certificate: not revoked (`apps.trust.revocation`, ADR 0018), then
    `check_sender`. A revoked certificate gets 554 5.7.1 naming its serial and DN; a certificate whose CA
    has no fresh CRL under CRL_HARD_FAIL gets 451 4.7.0 (the peer retries once a CRL is loaded)."""
    decision = check_revocation(certificate)
    remote = _server_name(certificate)
    note_certificate(certificate, path="inbound", remote=remote, decision=decision)
    if decision.allowed:
        return check_sender(sender, certificate.subject)
    record_tls_failure(
        direction="inbound",
        remote=remote,
        reason_code=decision.status,
        reason=decision.message,
        certificate=certificate,
    )
    if decision.revoked:
        return reply(
            554,
            "5.7.1",
            f"Le certificat presente (numero de serie {decision.serial}, {decision.subject_dn}) "
            "a ete revoque par son autorite de certification : aucun message n'est accepte "
            "avec ce certificat.",
        )
    return reply(451, "4.7.0", decision.message)


def hosted_domains() -> frozenset[str]:
    names = set()
    for name in settings.OPERATOR_DOMAINS:
        try:
            names.add(normalise_domain(name).ascii)
        except InvalidDomainName:
            continue
    if settings.PATIENT_DOMAIN and getattr(settings, "PATIENT_DOMAIN_HOSTED", True):
        names.add(normalise_domain(settings.PATIENT_DOMAIN).ascii)
    return frozenset(names)


@dataclass(frozen=True)
class RecipientDecision:
    address: str  # normalised ASCII lowercase form, what the spool records
    mailbox_id: int | None
    refusal: str | None  # the SMTP reply line when refused


def check_inbound_recipient(sender: str, recipient: str, *, size: int = 0) -> RecipientDecision:
    """RCPT TO: a domain we host, a known and active BAL with room left, and every recipient policy."""
    try:
        parsed = parse_address(recipient)
    except InvalidAddress as exc:
        return RecipientDecision(recipient, None, _format(BAD_RECIPIENT_SYNTAX, reason=str(exc)))
    address = f"{parsed.local_part.lower()}@{parsed.domain.ascii}"
    if parsed.domain.ascii not in hosted_domains():
        text = f"Relais refuse : le domaine {parsed.domain.ascii} n'est pas heberge par cet operateur."
        return RecipientDecision(address, None, reply(550, "5.7.1", text))
    # One row by its unique address, without the ORM's compilation (~0.5 ms of CPU per RCPT TO).
    mailbox = fastsql.get_by(Mailbox, "address", address)
    if mailbox is None:
        text = f"Adresse inconnue : aucune boite aux lettres {address} chez cet operateur."
        return RecipientDecision(address, None, reply(550, "5.1.1", text))
    if not mailbox.is_active:
        text = f"La boite aux lettres {address} est suspendue : elle ne recoit plus de messages."
        return RecipientDecision(address, mailbox.pk, reply(550, "5.2.1", text))
    full = check_quota(mailbox, max(size, 1))
    if full:
        return RecipientDecision(address, mailbox.pk, reply(552, "5.2.2", full))
    context = RecipientContext(
        sender_address=sender.lower(),
        recipient_address=address,
        recipient_mailbox=mailbox,
        size=size,
        stage="inbound",
    )
    refusal = check_registered_policies(context)
    if refusal is not None:
        return RecipientDecision(
            address, mailbox.pk, reply(refusal.smtp_code, refusal.smtp_enhanced, refusal.message)
        )
    return RecipientDecision(address, mailbox.pk, None)
