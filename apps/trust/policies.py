"""THE trust policy: may this address be written to, or received from? May this peer certificate speak for
this domain?

Every entry point calls these functions and nothing else decides: the web composer and the REST API before
accepting a recipient, `messaging.services.do_submit_message` for each recipient, the SMTP gateway at RCPT TO
(inbound) and when presenting/verifying certificates with other operators (`peer_certificate_allowed`),
and the Celery delivery tasks right before sending (the list may have changed since submission). Rules:
- the address is syntactically valid (dot-atom local part; domain valid under IDNA 2008/UTS #46);
- its domain is one of ours (settings.OPERATOR_DOMAINS), the MSS-C patient domain (settings.PATIENT_DOMAIN),
  or an active TrustedDomain of the liste blanche (Unicode or ASCII spelling, any case);
- everything else is refused, with a precise French message.
Patient-specific rules (profile open/activated, only professionals start a thread, pharmacy exception,
[FIN]) are not here: they live in the patients app, registered into messaging's recipient policies. This
module only says whether the patient domain belongs to the espace de confiance.

Speed: active domains and their DNs are held in a per-process snapshot, reloaded when the version key in the
Django cache (Redis) changes; every applied refresh bumps it on commit, and a process looks at the key at
most once a second (`apps.trust.snapshot`), so a check costs a dict lookup. With the snapshot off
(LISTE_BLANCHE_PROCESS_CACHE, the default under tests because each test's rollback would leave a snapshot
stale) a check is one indexed query.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings

from apps.trust.dn import DNParseError, dn_from_x509_name, normalise_dn, reversed_dn
from apps.trust.models import OperatorCertificateDN, TrustedDomain
from apps.trust.names import InvalidAddress, InvalidDomainName, normalise_domain, parse_address
from apps.trust.snapshot import VersionedSnapshot

if TYPE_CHECKING:
    from cryptography import x509

logger = logging.getLogger(__name__)

Direction = Literal["outbound", "inbound"]
VERSION_KEY = "trust:liste-blanche:version"


class AddressNotAllowed(Exception):
    """Raised by access_correspondent; str(exc) is the French message to show or to answer over SMTP."""

    def __init__(self, decision: TrustDecision) -> None:
        super().__init__(decision.message)
        self.decision = decision


@dataclass(frozen=True)
class TrustDecision:
    allowed: bool
    address: str  # as given, stripped
    domain: str  # ASCII form, "" when the address is invalid
    reason: str  # operator | patient | liste_blanche | invalid_address | not_trusted
    message: str  # French; empty when allowed


# --- the per-process snapshot of the liste blanche ----------------------------------------------------
def _load() -> dict[str, frozenset[str]]:
    dns: dict[str, set[str]] = {
        name: set() for name in TrustedDomain.objects.filter(is_active=True).values_list("name", flat=True)
    }
    rows = OperatorCertificateDN.objects.filter(is_active=True, domain__is_active=True).values_list(
        "domain__name", "dn_normalised"
    )
    for name, normalised in rows:
        dns[name].add(normalised)
    return {name: frozenset(values) for name, values in dns.items()}


# Reloaded when VERSION_KEY changes; the list changes once a day.
_dns_snapshot = VersionedSnapshot(version_key=VERSION_KEY, load=_load, what="liste blanche")


def bump_liste_blanche_version() -> None:
    """Tell every process to reload; call it on commit of any change to domains or DNs."""
    _dns_snapshot.bump()


def _is_trusted(domain_ascii: str) -> bool:
    if getattr(settings, "LISTE_BLANCHE_PROCESS_CACHE", True):
        return domain_ascii in _dns_snapshot.get()
    return TrustedDomain.objects.filter(name=domain_ascii, is_active=True).exists()


def _listed_dns(domain_ascii: str) -> frozenset[str] | None:
    """The active DNs of an active liste blanche domain; None when the domain is not trusted."""
    if getattr(settings, "LISTE_BLANCHE_PROCESS_CACHE", True):
        return _dns_snapshot.get().get(domain_ascii)
    domain = TrustedDomain.objects.filter(name=domain_ascii, is_active=True).first()
    if domain is None:
        return None
    return frozenset(domain.certificate_dns.filter(is_active=True).values_list("dn_normalised", flat=True))


# --- the policy -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _always_allowed(operator_domains: tuple[str, ...], patient_domain: str) -> tuple[frozenset[str], str]:
    """Our domains and the patient domain in ASCII form (cached: settings do not change at run time)."""
    names = set()
    for name in operator_domains:
        try:
            names.add(normalise_domain(name).ascii)
        except InvalidDomainName:
            logger.error("trust: OPERATOR_DOMAINS holds an invalid domain %r", name)
    patient = normalise_domain(patient_domain).ascii if patient_domain else ""
    return frozenset(names), patient


def _refusal_message(domain_unicode: str, direction: Direction) -> str:
    consequence = (
        "aucun message ne peut lui être envoyé."
        if direction == "outbound"
        else "aucun message ne peut en être reçu."
    )
    return f"Le domaine « {domain_unicode} » n'appartient pas à l'espace de confiance MSSanté : {consequence}"


def check_address_allowed(address: str, *, direction: Direction) -> TrustDecision:
    """Decide for one raw address; never raises for bad input (the decision says why)."""
    if direction not in ("outbound", "inbound"):
        raise ValueError(f"direction must be 'outbound' or 'inbound', not {direction!r}")
    text = (address or "").strip()
    try:
        parsed = parse_address(text)
    except InvalidAddress as exc:
        return TrustDecision(False, text, "", "invalid_address", str(exc))
    domain = parsed.domain.ascii
    ours, patient = _always_allowed(tuple(settings.OPERATOR_DOMAINS), settings.PATIENT_DOMAIN or "")
    if domain in ours:
        return TrustDecision(True, text, domain, "operator", "")
    if patient and domain == patient:
        return TrustDecision(True, text, domain, "patient", "")
    if _is_trusted(domain):
        return TrustDecision(True, text, domain, "liste_blanche", "")
    return TrustDecision(
        False, text, domain, "not_trusted", _refusal_message(parsed.domain.unicode, direction)
    )


def can_exchange_with(address: str, *, direction: Direction) -> bool:
    return check_address_allowed(address, direction=direction).allowed


def access_correspondent(address: str, *, direction: Direction) -> TrustDecision:
    """The decision when allowed; raises AddressNotAllowed (French message) otherwise."""
    decision = check_address_allowed(address, direction=direction)
    if not decision.allowed:
        raise AddressNotAllowed(decision)
    return decision


def peer_certificate_allowed(domain: str, dn_or_name: str | x509.Name) -> bool:
    """True when `dn_or_name` (a DN string or a certificate subject) is one of the DNs the liste blanche
    publishes for `domain`, compared attribute by attribute (either RDN order)."""
    try:
        domain_ascii = normalise_domain(domain).ascii
        is_text = isinstance(dn_or_name, str)
        candidate = normalise_dn(dn_or_name) if is_text else dn_from_x509_name(dn_or_name)  # type: ignore[arg-type]
        reverse = reversed_dn(candidate)
    except (InvalidDomainName, DNParseError, ValueError):
        return False
    listed = _listed_dns(domain_ascii) or frozenset()
    return candidate in listed or reverse in listed


def can_manage_liste_blanche(user) -> bool:  # noqa: ANN001
    """Only operator administrators see and refresh the liste blanche."""
    return bool(user.is_authenticated and (user.kind == "operator_admin" or user.is_superuser))


def can_view_certificate_inventory(user) -> bool:  # noqa: ANN001
    """The certificate inventory and the TLS failures pages: operator administrators only, like the list."""
    return can_manage_liste_blanche(user)
