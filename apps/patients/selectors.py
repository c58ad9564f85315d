"""Reads of the patient portal: threads of the patient BAL, names of professionals, pharmacies, documents,
and the transparency list. Message content is read through messaging's selectors only.

Patients see professionals' names, never their addresses (docs/mssante.md §5): every row built here
carries a name resolved from our BALs or the annuaire, and the templates are given no address at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from apps.annuaire.models import BalAddress
from apps.mailboxes.models import Mailbox, MailboxKind, MailboxStatus
from apps.messaging.models import Attachment, FolderRole, Message, MessageCopy, MessageKind
from apps.messaging.store.text import references_of
from apps.messaging.webmail import selectors as message_selectors
from apps.messaging.webmail.message import display_subject
from apps.patients.addresses import is_patient_address
from apps.patients.models import PatientDocument, PatientProfile
from apps.patients.policies import can_reply_in_thread, without_addresses

UNKNOWN_PROFESSIONAL = "Professionnel de santé"
PLATFORM_NAME = "Votre messagerie de santé"
TRANSPARENCY_LIMIT = 200


# --- names, never addresses -------------------------------------------------------------------------------
def _mailbox_name(mailbox: Mailbox) -> str:
    if mailbox.kind == MailboxKind.NOMINATIVE and mailbox.owner is not None:
        return mailbox.owner.get_full_name() or mailbox.display_name or UNKNOWN_PROFESSIONAL
    if mailbox.display_name:
        return mailbox.display_name
    structure = mailbox.structure.name if mailbox.structure is not None else ""
    return " — ".join(part for part in (mailbox.service, structure) if part) or UNKNOWN_PROFESSIONAL


def _published_name(bal: BalAddress) -> str:
    name = bal.display_name or bal.structure_name or UNKNOWN_PROFESSIONAL
    return f"{name} ({bal.profession_label})" if bal.profession_label and bal.display_name else name


def names_for(addresses: Iterable[str]) -> dict[str, str]:
    """A name for each address: our BALs first, then the annuaire, else "Professionnel de santé"."""
    wanted = {address.lower() for address in addresses if address}
    names: dict[str, str] = {}
    for mailbox in Mailbox.objects.filter(address__in=wanted).select_related("owner", "structure"):
        names[mailbox.address] = _mailbox_name(mailbox)
    missing = wanted - names.keys()
    if missing:
        for bal in BalAddress.objects.filter(address__in=missing):
            names[bal.address] = _published_name(bal)
    return {address: names.get(address, UNKNOWN_PROFESSIONAL) for address in wanted}


def sender_name(message: Message, names: dict[str, str] | None = None) -> str:
    if message.kind != MessageKind.NORMAL:
        return PLATFORM_NAME
    address = message.sender_address.lower()
    known = (names or {}).get(address) or names_for([address])[address]
    if known != UNKNOWN_PROFESSIONAL:
        return known
    return message.sender_name or UNKNOWN_PROFESSIONAL


# --- the inbox --------------------------------------------------------------------------------------------
@dataclass
class ThreadRow:
    copy: MessageCopy
    subject: str
    snippet: str
    name: str
    closed: bool
    size: int


def list_inbox(
    profile: PatientProfile, *, after: str | None = None, sent: bool = False
) -> tuple[list[ThreadRow], str | None]:
    """The newest message of each conversation, newest first (a keyset page of Réception, or of Envoyés
    with `sent`: there the name shown is the recipient's)."""
    mailbox = profile.mailbox
    if mailbox is None:
        return [], None
    folder = message_selectors.get_system_folder(mailbox, FolderRole.SENT if sent else FolderRole.INBOX)
    page = message_selectors.list_folder_page(mailbox, folder, after=after)
    roots = {row.copy.thread_root or row.copy.pk for row in page.rows}
    closed_roots = set(
        MessageCopy.objects.filter(mailbox=mailbox, message__is_fin=True)
        .filter(Q(thread_root__in=roots) | Q(pk__in=roots, thread_root__isnull=True))
        .values_list("thread_root", "pk")
        .iterator()
    )
    closed = {root or pk for root, pk in closed_roots}
    names = names_for(_counterparts(row.copy.message, sent) for row in page.rows)
    rows, seen = [], set()
    for row in page.rows:
        root = row.copy.thread_root or row.copy.pk
        if root in seen:
            continue
        seen.add(root)
        message = row.copy.message
        name = names[_counterparts(message, sent)] if sent else sender_name(message, names)
        subject = display_subject(row.subject)
        rows.append(ThreadRow(row.copy, subject, row.snippet, name, root in closed, row.thread_size))
    return rows, page.next_cursor


def _counterparts(message: Message, sent: bool) -> str:
    """Whose name a row shows: the sender of a received message, the (first) recipient of a sent one."""
    if sent:
        return str((message.to_addresses or [""])[0]).lower()
    return message.sender_address.lower()


def get_patient_copy(profile: PatientProfile, copy_id: Any) -> MessageCopy | None:
    try:
        pk = int(copy_id)
    except (TypeError, ValueError):
        return None
    if profile.mailbox_id is None:
        return None
    return (
        MessageCopy.objects.select_related("message", "mailbox", "folder")
        .filter(pk=pk, mailbox_id=profile.mailbox_id)
        .first()
    )


# --- one conversation -------------------------------------------------------------------------------------
@dataclass
class ReplyState:
    allowed: bool
    reason: str = ""
    closed: bool = False
    target: MessageCopy | None = None
    target_name: str = ""


def reply_target(thread: list[MessageCopy]) -> MessageCopy | None:
    """The newest message a professional sent in this conversation: the one a reply answers."""
    incoming = [
        one for one in thread if not one.is_outgoing and not is_patient_address(one.message.sender_address)
    ]
    incoming = [one for one in incoming if one.message.kind == MessageKind.NORMAL]
    return incoming[-1] if incoming else None


def get_reply_state(profile: PatientProfile, thread: list[MessageCopy]) -> ReplyState:
    target = reply_target(thread)
    if target is None:
        return ReplyState(False, "Cette conversation ne peut pas recevoir de réponse.")
    message = target.message
    refusal = can_reply_in_thread(
        profile,
        in_reply_to=message.message_id,
        references=tuple(references_of(message)),
        to=message.sender_address,
    )
    name = sender_name(message)
    if refusal is None:
        return ReplyState(True, target=target, target_name=name)
    closed = refusal.code == "patient_thread_closed"
    return ReplyState(
        False, without_addresses(refusal.message), closed=closed, target=target, target_name=name
    )


def thread_copies(copy: MessageCopy) -> list[MessageCopy]:
    root = copy.thread_root or copy.pk
    return list(
        MessageCopy.objects.filter(mailbox_id=copy.mailbox_id)
        .filter(Q(pk=root) | Q(thread_root=root))
        .select_related("message", "mailbox", "folder")
        .order_by("received_at", "id")[:200]
    )


# --- pharmacies -------------------------------------------------------------------------------------------
@dataclass
class Pharmacy:
    mailbox: Mailbox
    name: str
    town: str
    postcode: str


def search_pharmacies(query: str = "", *, limit: int = 30) -> list[Pharmacy]:
    """Active officine BALs whose name or town matches every word of `query` (accents and case ignored)."""
    queryset: QuerySet[Mailbox] = Mailbox.objects.filter(
        kind=MailboxKind.ORGANISATIONAL, is_officine=True, status=MailboxStatus.ACTIVE
    ).select_related("structure")
    # unaccent exists on PostgreSQL only; the SQLite fallback of `make run` compares case only.
    contains = "unaccent__icontains" if connection.vendor == "postgresql" else "icontains"
    for word in query.split()[:5]:
        queryset = queryset.filter(
            Q(**{f"display_name__{contains}": word})
            | Q(**{f"structure__name__{contains}": word})
            | Q(**{f"structure__enseigne__{contains}": word})
            | Q(**{f"structure__town__{contains}": word})
            | Q(structure__postcode__startswith=word)
        )
    found = []
    for mailbox in queryset.order_by("structure__town", "display_name", "pk")[:limit]:
        structure = mailbox.structure
        fallback = (structure.enseigne or structure.name) if structure is not None else ""
        found.append(
            Pharmacy(
                mailbox,
                mailbox.display_name or fallback or _mailbox_name(mailbox),
                structure.town if structure is not None else "",
                structure.postcode if structure is not None else "",
            )
        )
    return found


def get_pharmacy(mailbox_id: Any) -> Mailbox | None:
    try:
        pk = int(mailbox_id)
    except (TypeError, ValueError):
        return None
    return Mailbox.objects.filter(
        pk=pk, kind=MailboxKind.ORGANISATIONAL, is_officine=True, status=MailboxStatus.ACTIVE
    ).first()


# --- documents --------------------------------------------------------------------------------------------
def list_documents(profile: PatientProfile) -> QuerySet[PatientDocument]:
    return PatientDocument.objects.filter(profile=profile).select_related("profile").order_by("-created_at")


def saved_attachments(profile: PatientProfile, message_ids: list[Any]) -> dict[Any, set[int]]:
    """Per message, the positions of its attachments already saved in the documents (to say so)."""
    rows = PatientDocument.objects.filter(profile=profile, source_message_id__in=message_ids).values_list(
        "source_message_id", "source_attachment_position"
    )
    saved: dict[Any, set[int]] = defaultdict(set)
    for message_id, position in rows:
        if position is not None:
            saved[message_id].add(position)
    return saved


# --- transparency: exchanges between professionals about the patient ---------------------------------------
DOCUMENT_TYPES = (
    ("application/pdf", "Document PDF"),
    ("image/", "Image"),
    ("application/zip", "Dossier de documents (IHE XDM)"),
    ("text/xml", "Document structuré (CDA)"),
    ("application/xml", "Document structuré (CDA)"),
)


def document_type(content_type: str) -> str:
    for prefix, label in DOCUMENT_TYPES:
        if content_type.startswith(prefix):
            return label
    return "Autre pièce jointe"


@dataclass
class Exchange:
    sent_at: Any
    sender: str
    recipients: list[str]
    document_types: list[str] = field(default_factory=list)


def list_exchanges_about(profile: PatientProfile, *, limit: int = TRANSPARENCY_LIMIT) -> list[Exchange]:
    """Messages between professionals tagged with the patient's INS, as metadata only: date, who, the kind of
    documents. Never the subject, body or file names (they are not even decrypted here)."""
    own = profile.address
    rows = list(
        Message.objects.filter(patient_ins=profile.ins, kind=MessageKind.NORMAL)
        .exclude(sender_address=own)
        .only("id", "sent_at", "sender_address", "sender_name", "to_addresses", "cc_addresses", "kind")
        .order_by("-sent_at")[:limit]
    )
    rows = [row for row in rows if own not in {a.lower() for a in [*row.to_addresses, *row.cc_addresses]}]
    types: dict[Any, list[str]] = defaultdict(list)
    for message_id, content_type in Attachment.objects.filter(
        message_id__in=[r.pk for r in rows]
    ).values_list("message_id", "content_type"):
        label = document_type(content_type)
        if label not in types[message_id]:
            types[message_id].append(label)
    everyone = {r.sender_address for r in rows} | {
        a for r in rows for a in [*r.to_addresses, *r.cc_addresses]
    }
    names = names_for(everyone)
    return [
        Exchange(
            row.sent_at,
            sender_name(row, names),
            sorted({names[a.lower()] for a in [*row.to_addresses, *row.cc_addresses]}),
            types.get(row.pk, []),
        )
        for row in rows
    ]
