"""Messages the platform itself writes into a BAL: bounces (non-remise) and automatic returns.

A bounce is stored like any message (encrypted, raw MIME kept with its SHA-256) and filed directly in the
sender BAL's Réception, written in French with the cause, so the professional sees at once what failed.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.audit.services import record_event
from apps.crypto.keys import new_data_key
from apps.mailboxes.keys import mailbox_key
from apps.mailboxes.quotas import do_add_usage
from apps.messaging.delivery.transports import get_transport
from apps.messaging.models import Delivery, FolderRole, Message, MessageCopy, MessageKind, Origin
from apps.messaging.store import content, mime, search_index, storage
from apps.messaging.store.folders import system_folder

SYSTEM_LOCAL_PART = "mailer-daemon"


def _system_sender(domain: str) -> tuple[str, str]:
    return f"Plateforme {settings.OPERATOR_NAME}", f"{SYSTEM_LOCAL_PART}@{domain}"


def do_system_message(
    mailbox: Any, *, subject: str, text: str, kind: str = MessageKind.BOUNCE, in_reply_to: str = ""
) -> MessageCopy:
    """Store a platform message and file it in the BAL's Réception (inside the caller's transaction)."""
    pk, data_key, now = uuid.uuid4(), new_data_key(), timezone.now()
    name, address = _system_sender(mailbox.domain)
    message_id = mime.new_message_id(mailbox.domain)
    headers = [
        ("From", f"{name} <{address}>"),
        ("To", mailbox.address),
        ("Subject", subject),
        ("Date", mime.date_header(now)),
        ("Message-ID", message_id),
        ("In-Reply-To", in_reply_to),
        ("Auto-Submitted", "auto-replied"),
    ]
    raw, _parts = storage.write_raw_message(
        pk, data_key, limit=settings.MESSAGE_MAX_BYTES, headers=headers, text=text, html=None, attachments=[]
    )
    message = Message.objects.create(
        id=pk,
        kind=kind,
        origin=Origin.SYSTEM,
        message_id=message_id,
        in_reply_to=in_reply_to,
        sender_address=address,
        sender_name=name,
        to_addresses=[mailbox.address],
        sent_at=now,
        created_at=now,
        size=raw.size,
        sha256=raw.sha256,
        raw_blob=raw.blob,
        subject_enc=content.seal_text(data_key, pk, "subject", subject),
        snippet_enc=content.seal_text(data_key, pk, "snippet", text[:160]),
        body_text_enc=content.seal_text(data_key, pk, "text", text),
    )
    _version, key = mailbox_key(mailbox.pk)
    copy = MessageCopy.objects.create(
        mailbox=mailbox,
        message=message,
        folder=system_folder(mailbox.pk, FolderRole.INBOX),
        data_key_wrap=content.wrap_for_mailbox(data_key, pk, mailbox.pk),
        received_at=now,
        search_tokens=search_index.build_tokens(key, full_text=[text], prefix_text=[subject, name]),
    )
    do_add_usage(mailbox.pk, message.size)
    return copy


def bounce_text(recipient: str, reason: str, subject: str, sent_at: Any) -> str:
    when = timezone.localtime(sent_at).strftime("%d/%m/%Y à %H:%M")
    return (
        "Bonjour,\n\n"
        f"Votre message « {subject} » du {when} n'a pas pu être remis à {recipient}.\n\n"
        f"Motif : {reason}\n\n"
        "Les autres destinataires éventuels ne sont pas concernés : le suivi du message indique l'état de "
        "chaque remise.\n\n"
        "Ceci est un message automatique de votre messagerie sécurisée de santé ; merci de ne pas y répondre."
    )


def do_bounce(delivery: Delivery) -> MessageCopy | None:
    """The non-delivery notice for a failed delivery, in the sending BAL (if it is one of ours)."""
    message = delivery.message
    mailbox = message.from_mailbox
    if mailbox is None:  # a remote sender: the gateway answers with a DSN to its return path
        if message.return_path:
            get_transport().bounce_remote(delivery)
        return None
    subject = content.open_text(
        content.data_key_in_transit(message), message.pk, "subject", message.subject_enc
    )
    copy = do_system_message(
        mailbox,
        subject=f"Non remis : {subject}",
        text=bounce_text(delivery.recipient, delivery.error_text or "inconnu", subject, message.sent_at),
        in_reply_to=message.message_id,
    )
    record_event(
        "message.bounced",
        mailbox=mailbox,
        target=message,
        actor_label="plateforme",
        details={"recipient": delivery.recipient, "code": delivery.error_code},
    )
    return copy


def do_send_report(raw: bytes, *, recipient: str, idempotency_key: str | None = None) -> Message | None:
    """Send a DSN or an MDN we built (bytes) to `recipient`, with a null envelope sender (never bounced
    back: RFC 3464 §2 / RFC 8098 §2.1), through the ordinary delivery pipeline."""
    import io

    from apps.messaging.delivery.inbound import do_receive_message

    return do_receive_message(
        raw=io.BytesIO(raw),
        envelope_sender="",
        recipients=[recipient],
        origin=Origin.SYSTEM,
        idempotency_key=idempotency_key,
        kind=MessageKind.REPORT,
        handle_reports=False,
    )
