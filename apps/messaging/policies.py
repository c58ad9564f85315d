"""Who may read a copy, send from a BAL, and write to a recipient — the one place messaging decides it.

`check_recipient` is the single rule for a recipient and is called from every entry point: the composer
(before sending, to warn), `do_submit_message` (web, API, SMTP submission: refuses), the deposit of a
delivery (the state may have changed meanwhile) and the inbound SMTP gateway at RCPT TO. It chains the
liste blanche (apps.trust.policies), the local BAL's existence, state and quota, then the registered
recipient policies (MSS-C rules from the patients app).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import Http404

from apps.mailboxes.models import Mailbox, MailboxStatus
from apps.mailboxes.policies import access_mailbox
from apps.mailboxes.quotas import check_quota
from apps.messaging.models import MessageCopy
from apps.messaging.policies_compose import sending_refusal
from apps.messaging.recipient_policies import RecipientContext, Refusal, check_registered_policies
from apps.trust.names import InvalidAddress, parse_address
from apps.trust.policies import check_address_allowed
from mssante_lib import fastsql

# --- [FIN]: a professional closes an exchange with a patient (Ref#2 ECO.2.2.8, docs/mssante.md §5) -------
FIN_MARKER = "[FIN]"
FIN_VALUE = "FIN"  # the X-MSS-MES value that closes
X_MSS_MES = "X-MSS-MES"


def is_fin_subject(subject: str | None) -> bool:
    """`[FIN]` in capitals with its brackets, anywhere in the (RFC 2047-decoded) subject: `Re: Résultats
    [FIN]` closes; `[fin]`, `[Fin]` and `FIN` alone do not."""
    return subject is not None and FIN_MARKER in subject


def is_fin_mes(values: Iterable[object]) -> bool:
    """One of the `X-MSS-MES` header values is `FIN` (spaces and case of another operator tolerated)."""
    return any(str(value).strip().upper() == FIN_VALUE for value in values)


Headers = Mapping[str, object] | Iterable[tuple[str, object]]


def is_fin_header(headers: Headers) -> bool:
    """`headers`: a mapping, or (name, value) pairs such as `email.message.Message.items()` (repeats kept)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return is_fin_mes(value for name, value in items if name.lower() == X_MSS_MES.lower())


def closes_exchange(subject: str | None, headers: Headers = ()) -> bool:
    """THE [FIN] decision, for every entry point (composer, API, SMTP submission and gateway, patients):
    `X-MSS-MES: FIN` (preferred by MES) or `[FIN]` in the subject ends the exchange."""
    return is_fin_subject(subject) or is_fin_header(headers)


@dataclass(frozen=True)
class Recipient:
    address: str  # normalised: lowercase ASCII form
    is_local: bool
    mailbox: Mailbox | None


def local_domains() -> set[str]:
    domains = {d.lower() for d in settings.OPERATOR_DOMAINS}
    if getattr(settings, "PATIENT_DOMAIN_HOSTED", True) and settings.PATIENT_DOMAIN:
        domains.add(settings.PATIENT_DOMAIN.lower())
    return domains


def normalise_address(address: str) -> str:
    """Lowercase ASCII form; raises InvalidAddress (French message) when it is not an address."""
    parsed = parse_address(address)
    return parsed.ascii.lower()


def resolve_recipient(address: str) -> Recipient:
    normalised = normalise_address(address)
    domain = normalised.rpartition("@")[2]
    if domain not in local_domains():
        return Recipient(normalised, False, None)
    # Every RCPT and every submitted recipient passes here: one row by its unique address, no ORM compile.
    mailbox = fastsql.get_by(Mailbox, "address", normalised)
    return Recipient(normalised, True, mailbox)


def resolve_recipients(addresses: list[str]) -> dict[str, Recipient]:
    """`resolve_recipient` for many addresses with one query (the inbound batch: ADR 0022)."""
    normalised = {address: normalise_address(address) for address in addresses}
    domains = local_domains()
    local = [n for n in normalised.values() if n.rpartition("@")[2] in domains]
    found = {m.address: m for m in Mailbox.objects.filter(address__in=local)} if local else {}
    return {
        address: Recipient(n, n in local, found.get(n)) if n in local else Recipient(n, False, None)
        for address, n in normalised.items()
    }


def _refuse(code: str, message: str, smtp: int = 550, enhanced: str = "5.1.1") -> Refusal:
    return Refusal(code=code, message=message, smtp_code=smtp, smtp_enhanced=enhanced)


def check_local_mailbox(recipient: Recipient, size: int) -> Refusal | None:
    mailbox = recipient.mailbox
    if mailbox is None:
        return _refuse("unknown_mailbox", f"L'adresse {recipient.address} n'existe pas sur notre plateforme.")
    if mailbox.status != MailboxStatus.ACTIVE:
        return _refuse(
            "mailbox_suspended", f"La boîte aux lettres {mailbox.address} est suspendue.", 550, "5.2.1"
        )
    full = check_quota(mailbox, size)
    if full:
        return Refusal(code="quota_full", message=full, smtp_code=552, smtp_enhanced="5.2.2", permanent=True)
    return None


def check_recipient(context: RecipientContext) -> Refusal | None:
    """THE rule for one recipient (see the module docstring). `context.recipient_address` may be raw."""
    try:
        if context.stage == "deposit" and context.recipient_mailbox is not None:
            # The Delivery already names its BAL (re-checked for state and room below): no second lookup.
            mailbox = context.recipient_mailbox
            recipient = Recipient(mailbox.address, True, mailbox)
        else:
            recipient = resolve_recipient(context.recipient_address)
    except InvalidAddress as exc:
        return _refuse("invalid_address", str(exc), 501, "5.1.3")
    direction = "inbound" if context.stage == "inbound" else "outbound"
    decision = check_address_allowed(recipient.address, direction="outbound")
    if not decision.allowed:
        return _refuse(decision.reason, decision.message, 550, "5.7.1")
    if direction == "inbound" and not recipient.is_local:
        return _refuse("relay_denied", "Ce serveur ne relaie pas vers d'autres domaines.", 550, "5.7.1")
    context.recipient_address = recipient.address
    if recipient.is_local:
        context.recipient_mailbox = recipient.mailbox
        if recipient.mailbox is None:
            # A registered policy may know the address better (an MSS-C patient: unknown INS, bad key)
            # and give the sender its precise automatic return.
            return check_registered_policies(context) or check_local_mailbox(recipient, context.size)
        refusal = check_local_mailbox(recipient, context.size)
        if refusal is not None:
            return refusal
    return check_registered_policies(context)


def check_sender_allowed(address: str) -> Refusal | None:
    """Inbound: the sending domain must be ours or in the liste blanche."""
    decision = check_address_allowed(address, direction="inbound")
    if decision.allowed:
        return None
    return _refuse(decision.reason, decision.message, 550, "5.7.1")


def can_send_from(user: Any, mailbox: Mailbox) -> bool:
    """People send from nominative and organisational BALs they may write in; applicative BALs send
    only through their API credentials (issue 6), never from the webmail."""
    try:
        access_mailbox(user, mailbox, for_write=True)
    except Http404:
        return False
    return not sending_refusal(mailbox, can_write=True)


def access_copy(user: Any, copy_id: int | str, *, for_write: bool = False) -> MessageCopy:
    """The copy when the user may act in its BAL; 404 otherwise (existence never leaks)."""
    try:
        pk = int(copy_id)
    except (TypeError, ValueError):
        raise Http404 from None
    copy = MessageCopy.objects.select_related("message", "mailbox", "folder").filter(pk=pk).first()
    if copy is None:
        raise Http404
    access_mailbox(user, copy.mailbox, for_write=for_write)
    return copy
