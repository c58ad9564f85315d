"""Reading API input (JSON or multipart) and writing API output, with French error details.

Attachments never sit wholly in memory once parsed: multipart files are streamed to temporary files by
Django's TemporaryFileUploadHandler (set by the view before the body is read); base64 attachments of a JSON
body are decoded one at a time into temporary files. The JSON body itself is bounded by API_JSON_MAX_BYTES.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.http import HttpRequest

from apps.annuaire.identifiers import IdentifierError, check_ins
from apps.messaging.api.auth import ApiError
from apps.messaging.models import Delivery, FolderRole, Message, MessageCopy
from apps.messaging.store.mime import PartSource
from apps.messaging.validation.selectors import get_decision
from apps.messaging.webmail.message import AttachmentInfo
from apps.messaging.webmail.selectors import CopyRow

CHUNK = 64 * 1024
MAX_RECIPIENTS = 100
MAX_SUBJECT = 998
MAX_FILENAME = 255


@dataclass
class Submission:
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    body: str
    patient_ins: str
    read_receipt: bool
    attachments: list[PartSource] = field(default_factory=list)
    _files: list[IO[bytes]] = field(default_factory=list)

    def close(self) -> None:
        for handle in self._files:
            handle.close()


def _invalid(errors: dict[str, str]) -> ApiError:
    return ApiError(
        400, "invalid_request", "La demande est incomplète ou mal formée.", extra={"errors": errors}
    )


def _addresses(
    data: dict[str, Any], name: str, errors: dict[str, str], *, required: bool = False
) -> list[str]:
    value = data.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors[name] = "Une liste d'adresses est attendue."
        return []
    if required and not value:
        errors[name] = "Indiquez au moins un destinataire."
    return [v.strip() for v in value]


def _text(data: dict[str, Any], name: str, errors: dict[str, str], limit: int | None = None) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[name] = "Un texte est attendu."
        return ""
    if limit is not None and len(value) > limit:
        errors[name] = f"{limit} caractères au plus."
    return value


def _ins(data: dict[str, Any], errors: dict[str, str]) -> str:
    value = _text(data, "patient_ins", errors).strip()
    if not value:
        return ""
    try:
        return check_ins(value)
    except IdentifierError as exc:
        errors["patient_ins"] = f"Matricule INS invalide : {exc}"
        return ""


def _metadata(data: Any) -> Submission:
    if not isinstance(data, dict):
        raise _invalid({"_": "Un objet JSON est attendu."})
    errors: dict[str, str] = {}
    to = _addresses(data, "to", errors, required=True)
    cc = _addresses(data, "cc", errors)
    bcc = _addresses(data, "bcc", errors)
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        errors["to"] = f"{MAX_RECIPIENTS} destinataires au plus par message."
    read_receipt = data.get("read_receipt", False)
    if not isinstance(read_receipt, bool):
        errors["read_receipt"] = "true ou false est attendu."
    submission = Submission(
        to=to,
        cc=cc,
        bcc=bcc,
        subject=_text(data, "subject", errors, MAX_SUBJECT),
        body=_text(data, "body", errors),
        patient_ins=_ins(data, errors),
        read_receipt=bool(read_receipt),
    )
    if errors:
        raise _invalid(errors)
    return submission


def _clean_filename(name: Any) -> str:
    base = os.path.basename(str(name or "").replace("\\", "/")).strip()
    return base[:MAX_FILENAME] or "piece-jointe"


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(CHUNK):
        yield chunk


def _part(handle: IO[bytes], filename: str, content_type: str) -> PartSource:
    return PartSource(
        _clean_filename(filename), content_type or "application/octet-stream", lambda: _file_chunks(handle)
    )


def _decode_attachment(index: int, item: Any, submission: Submission) -> None:
    where = f"attachments[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("content_base64"), str):
        raise _invalid({where: "Un objet {filename, content_type, content_base64} est attendu."})
    try:
        data = base64.b64decode(item["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise _invalid({where: "Le contenu n'est pas du base64 valide."}) from None
    handle = tempfile.TemporaryFile()  # noqa: SIM115 — closed by Submission.close()
    submission._files.append(handle)
    handle.write(data)
    del data
    declared = item.get("content_type")
    content_type = declared if isinstance(declared, str) else ""
    submission.attachments.append(_part(handle, item.get("filename", ""), content_type))


def _read_json_body(request: HttpRequest) -> Any:
    limit = int(getattr(settings, "API_JSON_MAX_BYTES", 10 * 1024 * 1024))
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    raw = request.read(limit + 1) if declared <= limit else b"x" * (limit + 1)
    if len(raw) > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"Le corps JSON dépasse {limit // (1024 * 1024)} Mo : envoyez les pièces jointes en "
            "multipart/form-data.",
        )
    try:
        return json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _invalid({"_": "Le corps n'est pas du JSON valide."}) from None


def parse_json_submission(request: HttpRequest) -> Submission:
    data = _read_json_body(request)
    submission = _metadata(data)
    items = data.get("attachments") or []
    if not isinstance(items, list):
        raise _invalid({"attachments": "Une liste est attendue."})
    try:
        for index, item in enumerate(items):
            _decode_attachment(index, item, submission)
    except BaseException:
        submission.close()
        raise
    return submission


def parse_multipart_submission(request: HttpRequest) -> Submission:
    """`metadata` (a JSON text field) plus the files of the `attachments` field(s), in the order sent."""
    raw = request.POST.get("metadata")
    if raw is None:
        raise _invalid({"metadata": "Le champ « metadata » (JSON) est obligatoire."})
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise _invalid({"metadata": "Le champ « metadata » n'est pas du JSON valide."}) from None
    submission = _metadata(data)
    for upload in request.FILES.getlist("attachments"):
        submission.attachments.append(_part(upload, upload.name or "", upload.content_type or ""))
    return submission


# --- Output -----------------------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "address": delivery.recipient,
        "state": delivery.state,
        "state_label": delivery.get_state_display(),
        "delivered_at": _iso(delivery.delivered_at),
        "read_at": _iso(delivery.read_at),
        "failed_at": _iso(delivery.failed_at),
        "reason": delivery.error_text if delivery.state == "failed" else "",
    }


def submission_json(message: Message) -> dict[str, Any]:
    deliveries = list(message.deliveries.order_by("pk"))
    decision = get_decision(message, deliveries)
    return {
        "id": str(message.pk),
        "message_id": message.message_id,
        "submitted_at": _iso(message.created_at),
        "size": message.size,
        "sha256": message.sha256,
        "status": decision.state,
        "validation": {
            "state": decision.state,
            "decided_at": _iso(decision.at),
            "decided_by": decision.by,
            "reason": decision.reason,
        },
        "recipients": [delivery_json(d) for d in deliveries],
    }


def _copy_summary(copy: MessageCopy, subject: str, processed: bool) -> dict[str, Any]:
    message = copy.message
    return {
        "id": copy.pk,
        "message_id": message.message_id,
        "kind": message.kind,
        "from": {"address": message.sender_address, "name": message.sender_name},
        "to": list(message.to_addresses),
        "subject": subject,
        "received_at": _iso(copy.received_at),
        "size": message.size,
        "has_attachments": message.has_attachments,
        "processed": processed,
    }


def inbox_item_json(row: CopyRow, *, processed: bool) -> dict[str, Any]:
    item = _copy_summary(row.copy, row.subject, processed)
    item["snippet"] = row.snippet
    return item


def attachment_json(copy: MessageCopy, attachment: AttachmentInfo, url: str) -> dict[str, Any]:
    return {
        "position": attachment.position,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": url,
    }


def inbox_detail_json(
    copy: MessageCopy, *, subject: str, text: str, html: str, attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    item = _copy_summary(copy, subject, copy.folder.role == FolderRole.ARCHIVE)
    message = copy.message
    item.update(
        {
            "cc": list(message.cc_addresses),
            "sent_at": _iso(message.sent_at),
            "in_reply_to": message.in_reply_to,
            "patient_ins": message.patient_ins,
            "read_receipt_requested": message.wants_read_receipt,
            "body": text,
            "body_html": html or None,
            "sha256": message.sha256,
            "attachments": attachments,
        }
    )
    return item
