"""Receiving a message from another operator (the SMTP gateway's ingest task calls this).

The raw bytes were already durably spooled by the gateway before its 250; here they are parsed with
`email.policy.default`, stored encrypted like local mail (raw MIME kept, with its SHA-256, for S/MIME
verification and non-repudiation), and one Delivery per local recipient goes through the same pipeline as
local mail. Malformed real-world MIME never crashes ingestion: each unreadable part is kept as raw bytes.
Parsing holds the message in memory once (at most MESSAGE_MAX_BYTES, refused earlier at SMTP DATA).
"""

from __future__ import annotations

import logging
import re
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any, BinaryIO

from django.db import transaction
from django.utils import timezone

from apps.audit.services import record_event
from apps.crypto.keys import new_data_key
from apps.messaging.delivery.transports import get_transport
from apps.messaging.models import Attachment, Delivery, DeliveryState, Message, MessageKind, Origin
from apps.messaging.policies import closes_exchange, resolve_recipient
from apps.messaging.store import content, mime_nested, storage
from apps.messaging.store.text import make_snippet, message_ids
from mssante_lib.mailpolicy import POLICY

logger = logging.getLogger(__name__)
_TAGS = re.compile(r"<[^>]+>")
_CHUNK = 64 * 1024


def header_text(parsed: EmailMessage, name: str) -> str:
    try:
        value = parsed.get(name)
        return str(value).strip() if value is not None else ""
    except Exception:  # noqa: BLE001 — a defective header must not stop ingestion
        raw = parsed._headers  # type: ignore[attr-defined]
        found = next((v for k, v in raw if k.lower() == name.lower()), "")
        return str(found).encode("ascii", "replace").decode()


def _part_text(part: Any) -> str:
    try:
        value = part.get_content()
    except Exception:  # noqa: BLE001 — unknown charset, broken encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _part_bytes(part: Any) -> bytes:
    try:
        value = part.get_content()
    except Exception:  # noqa: BLE001
        value = part.get_payload(decode=True) or b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, EmailMessage):
        return value.as_bytes()
    return bytes(value or b"")


def _walked(parsed: EmailMessage) -> tuple[str, list[tuple[str, str, bytes]]]:
    return mime_nested.readable_content(
        parsed, part_text=_part_text, part_bytes=_part_bytes, header_text=header_text
    )


def bodies_of(parsed: EmailMessage) -> tuple[str, str | None]:
    if mime_nested.needs_walk(parsed):  # forwarded message, digest, several text parts: all shown as text
        return _walked(parsed)[0], None
    try:
        plain = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
    except Exception:  # noqa: BLE001
        plain = html = None
    html_text = _part_text(html) if html is not None else None
    if plain is not None:
        return _part_text(plain), html_text
    if html_text is not None:
        return " ".join(_TAGS.sub(" ", html_text).split()), html_text
    if not parsed.is_multipart():
        return _part_text(parsed), None
    return "", None


def attachments_of(parsed: EmailMessage) -> list[tuple[str, str, bytes]]:
    if mime_nested.needs_walk(parsed):  # the nested messages' attachments, under their own names
        return _walked(parsed)[1]
    try:
        parts = list(parsed.iter_attachments()) if parsed.is_multipart() else []
    except Exception:  # noqa: BLE001
        parts = []
    out = []
    for index, part in enumerate(parts):
        try:
            name = part.get_filename() or f"piece-jointe-{index + 1}"
        except Exception:  # noqa: BLE001
            name = f"piece-jointe-{index + 1}"
        out.append((str(name), part.get_content_type(), _part_bytes(part)))
    return out


def _sent_at(date: str) -> Any:
    try:
        value = parsedate_to_datetime(date)
        return value if value.tzinfo else timezone.make_aware(value)
    except (TypeError, ValueError, IndexError):
        return timezone.now()


def _mss_headers(headers: list[list[str]]) -> dict[str, str]:
    return {k: v[:200] for k, v in headers if k.upper().startswith("X-MSS-")}


def _xdm_patient_ins(parsed: EmailMessage) -> str:
    """The patient an inbound IHE_XDM package is about (METADATA.XML patientId, an INS): it feeds the
    patient's transparency page (metadata only)."""
    from apps.annuaire.identifiers import IdentifierError, check_ins
    from apps.messaging.store.xdm import XdmError, looks_like_xdm, read_package

    for name, ctype, payload in attachments_of(parsed):
        if not looks_like_xdm(name, ctype):
            continue
        try:
            return check_ins(read_package([payload]).patient.ins)
        except (XdmError, IdentifierError, ValueError):
            continue
    return ""


def open_received(raw: BinaryIO) -> tuple[EmailMessage, str, str]:
    """The parsed readable message and its S/MIME verification (the gateway's opener, when registered)."""
    raw.seek(0)
    readable, state, label = get_transport().open_inbound(raw.read())
    # policy.default's parsing, its header objects made once (mssante_lib.mailpolicy).
    return BytesParser(policy=POLICY).parsebytes(readable), state, label


def do_receive_message(
    *,
    raw: BinaryIO,
    envelope_sender: str,
    recipients: list[str],
    origin: str = Origin.SMTP,
    peer: str = "",
    idempotency_key: str | None = None,
    kind: str = MessageKind.NORMAL,
    handle_reports: bool = True,
) -> Message | None:
    """Store a received message and queue one delivery per recipient; None when a report handler
    consumed it (a DSN/MDN about one of our messages updates the sender's timeline instead)."""
    if idempotency_key:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    parsed, signature_state, signature_label = open_received(raw)
    is_report = handle_reports and parsed.get_content_type() == "multipart/report"
    if is_report and get_transport().handle_report(parsed):
        return None
    pk, data_key = uuid.uuid4(), new_data_key()
    raw.seek(0)
    stored_raw = storage.write_stream(pk, "raw", iter(lambda: raw.read(_CHUNK), b""), data_key)
    stored: list[tuple[str, str, storage.StoredStream]] = []
    try:
        for index, (name, ctype, payload) in enumerate(attachments_of(parsed)):
            stored.append((name, ctype, storage.write_stream(pk, f"attachment-{index}", [payload], data_key)))
        with transaction.atomic():
            message = _create(
                parsed,
                pk,
                data_key,
                stored_raw,
                stored,
                origin,
                idempotency_key,
                kind=kind,
                return_path=envelope_sender[:254],
                signature_state=signature_state[:20],
                signature_signer=signature_label[:300],
            )
            ids = _deliveries(message, recipients)
            record_event(
                "message.received",
                target=message,
                actor_label=f"smtp:{peer}"[:200] if peer else "smtp",
                details={
                    "envelope_sender": envelope_sender,
                    "recipients": recipients,
                    "size": message.size,
                    "sha256": message.sha256,
                    "peer": peer,
                },
            )
            transaction.on_commit(lambda: _enqueue(ids))
    except BaseException:
        storage.discard([stored_raw, *(s for _, _, s in stored)])
        raise
    return message


def _create(parsed, pk, data_key, raw, stored, origin, idempotency_key, **fields: str) -> Message:  # noqa: ANN001
    """The Message row and its attachments' rows; `fields` are the envelope and S/MIME facts known before
    parsing (kind, return path, signature)."""
    message = new_message(parsed, pk, data_key, raw, stored, origin, idempotency_key, **fields)
    message.save(force_insert=True)
    Attachment.objects.bulk_create(new_attachments(message, data_key, stored))
    return message


def new_message(parsed, pk, data_key, raw, stored, origin, idempotency_key, **fields: str) -> Message:  # noqa: ANN001
    """The unsaved Message of a parsed received message (the batch ingest inserts many at once)."""
    # Each field parsed once (a header object of `policy.default` is costly; every field was parsed twice):
    # the stored list, and the first value of each name, as `header_text` would read it.
    headers = [[k, str(v)] for k, v in parsed.items()]
    first: dict[str, str] = {}
    for k, v in headers:
        first.setdefault(k.lower(), v.strip())

    def field(name: str) -> str:
        return first.get(name.lower(), "")

    subject = field("Subject")
    name, address = parseaddr(field("From"))
    text, html = bodies_of(parsed)
    mss = _mss_headers(headers)
    return Message(
        id=pk,
        origin=origin,
        message_id=(message_ids(field("Message-ID")) or [f"<{pk}@recu.invalid>"])[0],
        in_reply_to=" ".join(message_ids(field("In-Reply-To"))),
        references=" ".join(message_ids(field("References"))),
        sender_address=address.lower()[:254],
        sender_name=name[:200],
        to_addresses=[a for _, a in getaddresses([field("To")]) if a][:100],
        cc_addresses=[a for _, a in getaddresses([field("Cc")]) if a][:100],
        sent_at=_sent_at(field("Date")),
        size=raw.size,
        sha256=raw.sha256,
        raw_blob=raw.blob,
        subject_enc=content.seal_text(data_key, pk, "subject", subject),
        snippet_enc=content.seal_text(data_key, pk, "snippet", make_snippet(text)),
        body_text_enc=content.seal_text(data_key, pk, "text", text),
        body_html_enc=content.seal_text(data_key, pk, "html", html) if html else None,
        headers_enc=content.seal_json(data_key, pk, "headers", headers[:200]),
        has_attachments=bool(stored),
        wants_read_receipt=bool(field("Disposition-Notification-To")),
        is_fin=closes_exchange(subject, mss),
        mss_headers=mss,
        patient_ins=_xdm_patient_ins(parsed),
        **fields,
        transit_key_wrap=content.wrap_transit(data_key, pk),
        idempotency_key=idempotency_key,
    )


def new_attachments(
    message: Message, data_key: bytes, stored: list[tuple[str, str, storage.StoredStream]]
) -> list[Attachment]:
    pk = message.pk
    return [
        Attachment(
            message=message,
            position=i,
            filename_enc=content.seal_text(data_key, pk, f"filename-{i}", n),
            content_type=ctype[:200],
            size=s.size,
            sha256=s.sha256,
            blob=s.blob,
        )
        for i, (n, ctype, s) in enumerate(stored)
    ]


def _deliveries(message: Message, recipients: list[str]) -> list[int]:
    rows = []
    for address in dict.fromkeys(r.lower() for r in recipients):
        recipient = resolve_recipient(address)
        rows.append(
            Delivery(
                message=message,
                recipient=recipient.address,
                recipient_mailbox=recipient.mailbox,
                is_local=recipient.is_local,
                state=DeliveryState.QUEUED,
            )
        )
    return [d.pk for d in Delivery.objects.bulk_create(rows)]


def _enqueue(ids: list[int]) -> None:
    from apps.messaging.delivery.submit import enqueue_deliveries

    enqueue_deliveries(ids)
