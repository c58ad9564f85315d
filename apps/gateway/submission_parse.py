"""What the submission server does in its database threads: sender and recipient checks, and turning the
client's MIME message into the same `Outgoing` the webmail submits."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from apps.mailboxes.models import Mailbox
from apps.messaging.delivery.inbound import attachments_of, bodies_of, header_text
from apps.messaging.delivery.submit import Outgoing, SubmissionRefused, do_submit_message
from apps.messaging.models import MessageCopy, Origin
from apps.messaging.policies import can_send_from, check_recipient
from apps.messaging.recipient_policies import RecipientContext, Refusal
from apps.messaging.store.mime import PartSource
from apps.messaging.store.storage import MessageTooLarge
from apps.messaging.store.text import message_ids


def _mailbox(address: str) -> Mailbox | None:
    return Mailbox.objects.filter(address=(address or "").strip().lower()).select_related("owner").first()


def check_sender_mailbox(user: Any, address: str) -> str:
    """'' when `user` may send from the BAL `address`, else the French reason."""
    mailbox = _mailbox(address)
    if user is None or mailbox is None or not can_send_from(user, mailbox):
        return f"Vous ne pouvez pas envoyer depuis l'adresse <{address}>."
    return ""


def check_submission_recipient(user: Any, sender: str, address: str) -> Refusal | None:
    mailbox = _mailbox(sender)
    context = RecipientContext(
        sender_address=sender,
        recipient_address=address,
        sender_mailbox=mailbox,
        sender_user=user,
        stage="submit",
    )
    return check_recipient(context)


def _reply_copy(mailbox: Mailbox, in_reply_to: str) -> MessageCopy | None:
    ids = message_ids(in_reply_to)
    if not ids:
        return None
    return (
        MessageCopy.objects.filter(mailbox=mailbox, message__message_id=ids[0])
        .select_related("message")
        .first()
    )


def _source(name: str, content_type: str, data: bytes) -> PartSource:
    def chunks() -> list[bytes]:
        return [data]

    return PartSource(name, content_type, chunks)


def outgoing_from_raw(mailbox: Mailbox, recipients: list[str], raw: bytes) -> Outgoing:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    text, html = bodies_of(parsed)
    to = [a for _, a in getaddresses([header_text(parsed, "To")]) if a]
    cc = [a for _, a in getaddresses([header_text(parsed, "Cc")]) if a]
    listed = {a.lower() for a in to + cc}
    bcc = [r for r in recipients if r.lower() not in listed]
    to = [a for a in to if a.lower() in {r.lower() for r in recipients}]
    cc = [a for a in cc if a.lower() in {r.lower() for r in recipients}]
    mss = {k: str(v) for k, v in parsed.items() if k.upper().startswith("X-MSS-")}
    return Outgoing(
        mailbox=mailbox,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=header_text(parsed, "Subject"),
        text=text,
        html=html,
        attachments=[_source(name, ctype, data) for name, ctype, data in attachments_of(parsed)],
        reply_to_copy=_reply_copy(mailbox, header_text(parsed, "In-Reply-To")),
        read_receipt=bool(header_text(parsed, "Disposition-Notification-To")),
        mss_headers=mss,
        origin=Origin.SUBMISSION,
    )


def submit_raw(user: Any, sender: str, recipients: list[str], raw: bytes) -> str:
    """The SMTP reply for DATA: 250 with our message id once stored, 5xx with the reason otherwise."""
    mailbox = _mailbox(sender)
    if user is None or mailbox is None:
        return "503 5.5.1 Bad sequence of commands"
    try:
        message = do_submit_message(outgoing_from_raw(mailbox, recipients, raw), acting_user=user)
    except SubmissionRefused as exc:
        details = "; ".join(f"{k}: {v}" for k, v in exc.refusals.items()) or exc.message
        return f"550 5.7.1 {details}"[:500]
    except MessageTooLarge as exc:
        return f"552 5.3.4 {exc}"
    return f"250 2.0.0 Message accepte {message.message_id}"
