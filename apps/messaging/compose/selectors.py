"""Reads for the composer: drafts (the Brouillons folder), who is replying, replies and forwards prefilled,
and the sender's delivery timeline. Nothing here writes."""

from __future__ import annotations

import datetime as dt
import html
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import nh3
from django.http import Http404
from django.utils import timezone

from apps.annuaire.models import Professional
from apps.crypto.envelope import DecryptionError
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.messaging.compose.services import DraftContent, attachment_filename, data_key_of_draft, open_draft
from apps.messaging.models import Delivery, DeliveryState, Draft, DraftAttachment, Message, MessageCopy
from apps.messaging.policies import normalise_address
from apps.messaging.store import content
from apps.messaging.store.text import forward_subject, reply_subject
from apps.trust.names import InvalidAddress

log = logging.getLogger(__name__)
# A draft touched this recently means its author is still writing ("Bob est en train de répondre").
REPLYING_WINDOW = dt.timedelta(minutes=5)
FORWARD_MARK = "-------- Message transféré --------"


@dataclass(frozen=True)
class DraftSummary:
    id: uuid.UUID
    mailbox_id: int
    author_name: str
    subject: str
    to: list[str]
    updated_at: dt.datetime
    attachment_count: int
    reply_to_copy_id: int | None
    readable: bool = True


@dataclass(frozen=True)
class DraftFile:
    id: int
    filename: str
    content_type: str
    size: int


def get_draft(user: Any, mailbox: Mailbox, draft_id: object) -> Draft:
    """The user's own draft in this BAL; 404 for anything else (drafts are personal, even in a shared BAL)."""
    try:
        pk = uuid.UUID(str(draft_id))
    except (TypeError, ValueError):
        raise Http404 from None
    draft = (
        Draft.objects.select_related("mailbox", "reply_to_copy__message", "reply_to_copy__mailbox")
        .filter(pk=pk, mailbox=mailbox, author=user)
        .first()
    )
    if draft is None:
        raise Http404
    return draft


def _summary(draft: Draft) -> DraftSummary:
    author = draft.author.get_full_name() or draft.author.email
    base = {
        "id": draft.pk,
        "mailbox_id": draft.mailbox_id,
        "author_name": author,
        "updated_at": draft.updated_at,
        "attachment_count": draft.attachment_count,  # type: ignore[attr-defined]
        "reply_to_copy_id": draft.reply_to_copy_id,
    }
    try:
        data = open_draft(draft)
    except DecryptionError:
        log.warning("draft %s: content cannot be decrypted", draft.pk)
        return DraftSummary(subject="", to=[], readable=False, **base)
    return DraftSummary(subject=data.subject, to=data.to, **base)


def list_drafts(mailbox: Mailbox, *, author: Any = None, limit: int = 200) -> list[DraftSummary]:
    """The Brouillons folder: most recently edited first. Pass `author` (the viewer): drafts are personal."""
    from django.db.models import Count

    drafts = Draft.objects.filter(mailbox=mailbox).select_related("author")
    if author is not None:
        drafts = drafts.filter(author=author)
    drafts = drafts.annotate(attachment_count=Count("attachments")).order_by("-updated_at")[:limit]
    return [_summary(draft) for draft in drafts]


def list_replying(copy: MessageCopy, *, exclude_user: Any = None) -> list[str]:
    """Names of the people drafting an answer to this copy right now (the shared BAL's "is replying")."""
    since = timezone.now() - REPLYING_WINDOW
    drafts = Draft.objects.filter(reply_to_copy=copy, updated_at__gte=since).select_related("author")
    if exclude_user is not None:
        drafts = drafts.exclude(author=exclude_user)
    names = {draft.author.get_full_name() or draft.author.email for draft in drafts}
    return sorted(names)


def list_draft_files(draft: Draft, data_key: bytes | None = None) -> list[DraftFile]:
    key = data_key if data_key is not None else data_key_of_draft(draft)
    files = DraftAttachment.objects.filter(draft=draft).order_by("created_at", "pk")
    return [
        DraftFile(one.pk, attachment_filename(draft.pk, one, key), one.content_type, one.size)
        for one in files
    ]


# --- replies and forwards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Original:
    """The decrypted parts of a message the composer quotes."""

    subject: str
    text: str
    sender: str
    sent_at: dt.datetime
    to: list[str]
    cc: list[str]
    attachment_names: list[str]


def _as_text(text: str, html_body: str) -> str:
    if text.strip() or not html_body:
        return text
    return html.unescape(nh3.clean(html_body.replace("<br", "\n<br").replace("</p>", "</p>\n"), tags=set()))


def open_original(copy: MessageCopy) -> Original:
    message = copy.message
    key = content.data_key_of_copy(copy)
    names = [
        content.open_text(key, message.pk, f"filename-{one.position}", one.filename_enc)
        for one in message.attachments.all()
    ]
    sender = (
        f"{message.sender_name} <{message.sender_address}>" if message.sender_name else message.sender_address
    )
    return Original(
        subject=content.open_text(key, message.pk, "subject", message.subject_enc),
        text=_as_text(
            content.open_text(key, message.pk, "text", message.body_text_enc),
            content.open_text(key, message.pk, "html", message.body_html_enc),
        ),
        sender=sender,
        sent_at=message.sent_at,
        to=list(message.to_addresses or []),
        cc=list(message.cc_addresses or []),
        attachment_names=names,
    )


def _normalised(address: str) -> str:
    try:
        return normalise_address(address)
    except (InvalidAddress, ValueError):
        return address.strip().lower()


def _without(addresses: list[str], excluded: set[str]) -> list[str]:
    kept: list[str] = []
    for address in addresses:
        normal = _normalised(address)
        if normal and normal not in excluded:
            excluded.add(normal)
            kept.append(address)
    return kept


def _when(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def reply_content(copy: MessageCopy, *, reply_all: bool) -> DraftContent:
    original, message = open_original(copy), copy.message
    own = {copy.mailbox.address.lower()}
    if copy.is_outgoing:  # answering one's own sent message: write to its recipients again
        to = _without(original.to, set(own))
        cc = _without(original.cc, own | {_normalised(a) for a in to}) if reply_all else []
    else:
        to = [message.sender_address]
        cc = (
            _without([*original.to, *original.cc], own | {_normalised(message.sender_address)})
            if reply_all
            else []
        )
    quoted = "\n".join(f"> {line}" if line else ">" for line in original.text.splitlines())
    body = f"\n\nLe {_when(original.sent_at)}, {original.sender} a écrit :\n{quoted}\n"
    return DraftContent(
        to=to, cc=cc, subject=reply_subject(original.subject), body=body, patient_ins=message.patient_ins
    )


def forward_content(copy: MessageCopy) -> DraftContent:
    original = open_original(copy)
    lines = [
        "",
        "",
        FORWARD_MARK,
        f"De : {original.sender}",
        f"Date : {_when(original.sent_at)}",
        f"À : {', '.join(original.to)}",
    ]
    if original.cc:
        lines.append(f"Cc : {', '.join(original.cc)}")
    lines += [f"Objet : {original.subject}", "", original.text]
    return DraftContent(
        subject=forward_subject(original.subject), body="\n".join(lines), patient_ins=copy.message.patient_ins
    )


SIGNATURE_MARK = "-- "  # the line mail clients (and our reading pane) recognise a signature by


def annuaire_signature(user: Any) -> str:
    """The person's own signature as the Annuaire Santé knows them: exercise name, profession (or
    savoir-faire), then the structure and its address of their first active exercise place. The annuaire
    holds no telephone number: the person adds one by editing the signature."""
    professional = (
        Professional.objects.filter(national_id=user.national_id).first() if user.national_id else None
    )
    lines = [(professional.display_name if professional else "") or user.get_full_name() or user.email]
    if professional is None:
        return "\n".join(lines)
    lines.append(professional.savoir_faire_label or professional.profession_label)
    place = (
        professional.exercise_places.filter(is_active=True, structure__is_active=True)
        .select_related("structure")
        .order_by("pk")
        .first()
    )
    if place is not None:
        structure = place.structure
        lines.append(structure.enseigne or structure.name)
        lines.append(structure.address_street)
        lines.append(" ".join(part for part in (structure.postcode, structure.town) if part))
    return "\n".join(line.strip() for line in lines if line and line.strip())


def personal_signature(user: Any) -> str:
    """What the preferences page shows and new messages carry: the person's own text, else the annuaire's."""
    if getattr(user, "kind", "") == "patient":
        return ""
    stored = getattr(user, "mail_signature", None)
    return annuaire_signature(user) if stored is None else stored.strip("\n")


def signature_for(mailbox: Mailbox, user: Any) -> str:
    """The signature of a new message: the person's own (personal_signature), then, written from a service's
    BAL, the service and structure; the sending BAL's address last (an answer should go there). Empty when the
    person chose no signature."""
    personal = personal_signature(user)
    if not personal:
        return ""
    lines = [personal]
    if mailbox.kind == MailboxKind.ORGANISATIONAL:
        structure = mailbox.structure.name if mailbox.structure is not None else ""
        service = " — ".join(part for part in (mailbox.display_name or mailbox.service, structure) if part)
        if service and service not in personal:
            lines.append(service)
    if mailbox.address.lower() not in personal.lower():
        lines.append(mailbox.address)
    return SIGNATURE_MARK + "\n" + "\n".join(lines)


def _own_text(body: str) -> str:
    """The body without its quoted lines ("> …") and forwarded original: what the writer put there."""
    own = body.split(FORWARD_MARK)[0]
    return "\n".join(line for line in own.splitlines() if not line.startswith(">"))


def with_signature(data: DraftContent, signature: str) -> DraftContent:
    """The signature above the quoted or forwarded text, after an empty line to write in; not added again to
    a body that already carries it (an earlier signature inside the quoted original does not count)."""
    if not signature:
        return data
    block = signature.removeprefix(SIGNATURE_MARK + "\n").strip()
    if block and block in _own_text(data.body):
        return data
    below = data.body.lstrip("\n")
    data.body = f"\n\n{signature}\n" + (f"\n{below}" if below else "")
    return data


def list_recent_correspondents(mailbox: Mailbox, *, limit: int = 8, scan: int = 60) -> list[str]:
    """The addresses this BAL wrote to lately, most recent first: one click adds them in the composer.
    Read from the latest copies of Envoyés (the folder's keyset index), so a large BAL costs the same."""
    from apps.messaging.models import FolderRole
    from apps.messaging.store.folders import system_folder

    sent = system_folder(mailbox.pk, FolderRole.SENT)
    rows = (
        MessageCopy.objects.filter(mailbox=mailbox, folder=sent)
        .order_by("-received_at", "-id")
        .values_list("message__to_addresses", "message__cc_addresses")[:scan]
    )
    seen: dict[str, str] = {}
    for to, cc in rows:
        for address in [*(to or []), *(cc or [])]:
            key = _normalised(str(address))
            if key and key != mailbox.address and key not in seen:
                seen[key] = str(address)
    return list(seen.values())[:limit]


# --- the sender's delivery timeline --------------------------------------------------------------------

FINAL_STATES = (DeliveryState.DELIVERED, DeliveryState.FAILED)


@dataclass(frozen=True)
class TimelineStep:
    key: str  # sent | held | failed | delivered | read
    label: str
    at: dt.datetime | None
    done: bool
    failed: bool = False


@dataclass(frozen=True)
class RecipientTimeline:
    recipient: str
    state: str
    state_label: str
    steps: list[TimelineStep]
    reason: str
    attempts: int

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


def _steps(delivery: Delivery, wants_receipt: bool) -> list[TimelineStep]:
    steps = [TimelineStep("sent", "Envoyé", delivery.created_at, True)]
    if delivery.state == DeliveryState.HELD:
        return [*steps, TimelineStep("held", "En attente de validation", delivery.state_changed_at, True)]
    if delivery.state == DeliveryState.FAILED:
        return [*steps, TimelineStep("failed", "Échec de la remise", delivery.failed_at, True, failed=True)]
    delivered = delivery.state == DeliveryState.DELIVERED
    steps.append(TimelineStep("delivered", "Remis", delivery.delivered_at, delivered))
    if wants_receipt or delivery.read_at:
        steps.append(TimelineStep("read", "Lu", delivery.read_at, delivery.read_at is not None))
    return steps


def _reason(delivery: Delivery) -> str:
    if delivery.state == DeliveryState.FAILED:
        return delivery.error_text or "La remise a échoué."
    if delivery.state in (DeliveryState.QUEUED, DeliveryState.SENDING) and delivery.error_text:
        # Shown from the first temporary failure: the sender knows at once why it has not arrived yet.
        tries = f"{delivery.attempts} essai{'s' if delivery.attempts > 1 else ''}"
        return f"Nouvelle tentative prévue ({tries}) : {delivery.error_text}"
    return ""


def get_timeline(message: Message) -> list[RecipientTimeline]:
    """One line per recipient (Bcc included: the sender knows them), in the order they were written."""
    rows = []
    for delivery in message.deliveries.order_by("pk"):
        rows.append(
            RecipientTimeline(
                recipient=delivery.recipient,
                state=delivery.state,
                state_label=DeliveryState(delivery.state).label,
                steps=_steps(delivery, message.wants_read_receipt),
                reason=_reason(delivery),
                attempts=delivery.attempts,
            )
        )
    return rows


def timeline_is_settled(rows: list[RecipientTimeline], *, wants_receipt: bool) -> bool:
    """Nothing left to wait for: every delivery final and, with a receipt asked, every delivered one read."""
    for row in rows:
        if not row.is_final:
            return False
        if wants_receipt and row.state == DeliveryState.DELIVERED and not row.steps[-1].done:
            return False
    return True


def get_sent_copy(message: Message) -> MessageCopy | None:
    """The sender's copy (in Envoyés) of a message just submitted."""
    copies = MessageCopy.objects.filter(message=message, is_outgoing=True)
    if message.from_mailbox_id is not None:
        copies = copies.filter(mailbox_id=message.from_mailbox_id)
    return copies.order_by("pk").first()
