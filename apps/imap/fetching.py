"""FETCH data items from a copy (database thread): ENVELOPE, BODYSTRUCTURE, body sections, sizes, dates.

Content is decrypted in memory from the encrypted store (never written in clear); BODY[] and BINARY[] are
the raw MIME exactly as sent or received.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message as MimeMessage
from email.utils import getaddresses
from typing import Any

from apps.imap.items import FetchAtt, Section, format_datetime
from apps.imap.responses import Encoded, Literal8, flag_list
from apps.messaging.models import MessageCopy
from apps.messaging.store import content, storage


def raw_of(copy: MessageCopy) -> bytes:
    message = copy.message
    return b"".join(storage.read_stream(message.pk, "raw", message.raw_blob, content.data_key_of_copy(copy)))


def _header_value(mime: Any, name: str) -> bytes | None:
    value = mime.get(name)
    return None if value is None else str(value).encode("utf-8", "replace")


# `Name <local@domain>` or a bare `local@domain`: what nearly every header holds. Anything else (quotes,
# comments, groups, routes, several angle pairs) goes through the email package's full parser.
_PLAIN_ADDRESS = re.compile(r"\s*(?:([^<>]*?)\s*<([^<>@\s]+@[^<>@\s]+)>|([^<>@\s]+@[^<>@\s]+))\s*")
_NEEDS_PARSER = re.compile(r'["()\\:;\[\]]')


def _pairs(values: list[str]) -> list[tuple[str, str]]:
    if not any(_NEEDS_PARSER.search(value) for value in values):
        out = []
        for value in values:
            for item in value.split(","):
                if not item.strip():
                    continue
                match = _PLAIN_ADDRESS.fullmatch(item)
                if match is None:
                    return getaddresses(values)
                display, address, bare = match.groups()
                out.append((display or "", address or bare))
        return out
    return getaddresses(values)


def _addresses(mime: Any, name: str) -> list[Any] | None:
    values = mime.get_all(name)
    if not values:
        return None
    out = []
    for display, address in _pairs([str(v) for v in values]):
        local, _, domain = address.partition("@")
        out.append([display.encode() or None, None, local.encode() or None, domain.encode() or None])
    return out or None


class HeaderPairs:
    """The (name, value) headers kept apart in the store, read like an email.message.Message (`get`,
    `get_all`, case-insensitive) without building one."""

    def __init__(self, pairs: list[Any]) -> None:
        self._by_name: dict[str, list[str]] = {}
        for name, value in pairs:
            self._by_name.setdefault(str(name).lower(), []).append(str(value))

    def get(self, name: str) -> str | None:
        values = self._by_name.get(name.lower())
        return values[0] if values else None

    def get_all(self, name: str) -> list[str] | None:
        return self._by_name.get(name.lower())


def envelope(mime: Any) -> list[Any]:
    sender = _addresses(mime, "From")
    return [
        _header_value(mime, "Date"),
        _header_value(mime, "Subject"),
        sender,
        _addresses(mime, "Sender") or sender,
        _addresses(mime, "Reply-To") or sender,
        _addresses(mime, "To"),
        _addresses(mime, "Cc"),
        _addresses(mime, "Bcc"),
        _header_value(mime, "In-Reply-To"),
        _header_value(mime, "Message-ID"),
    ]


def bodystructure(part: Any, extended: bool = True) -> list[Any]:
    if part.is_multipart():
        children = [bodystructure(child, extended) for child in part.get_payload()]  # type: ignore[union-attr]
        return [*children, part.get_content_subtype().upper().encode()]
    maintype, subtype = part.get_content_maintype().upper(), part.get_content_subtype().upper()
    params = [
        item for key, value in part.get_params()[1:] for item in (key.upper().encode(), str(value).encode())
    ]
    payload = part.get_payload(decode=False)
    body = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    fields: list[Any] = [
        maintype.encode(),
        subtype.encode(),
        params or None,
        _header_value(part, "Content-ID"),
        _header_value(part, "Content-Description"),
        (part.get("Content-Transfer-Encoding") or "7BIT").upper().encode(),
        len(body),
    ]
    if maintype == "TEXT":
        fields.append(body.count(b"\n"))
    return fields


def _split(raw: bytes) -> tuple[bytes, bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(separator)
        if index >= 0:
            return raw[: index + len(separator)], raw[index + len(separator) :]
    return raw, b""


def _part(mime: MimeMessage, numbers: tuple[int, ...]) -> Any:
    part: Any = mime
    for number in numbers:
        if part.is_multipart():
            children = part.get_payload()
            if not 1 <= number <= len(children):  # type: ignore[arg-type]
                return None
            part = children[number - 1]  # type: ignore[index]
        elif number != 1:
            return None
    return part


def section_bytes(raw: bytes, mime: MimeMessage, section: Section) -> bytes:
    if section.part:
        part = _part(mime, section.part)
        if part is None:
            return b""
        data = part.as_bytes(policy=email.policy.SMTP) if part is not mime else raw
        if section.text == "MIME":
            return _split(data)[0]
        if not section.text:
            return _split(data)[1] if part is not mime or mime.is_multipart() else _split(raw)[1]
        raw = data
    header, body = _split(raw)
    if section.text in ("", None):
        return raw
    if section.text == "TEXT":
        return body
    if section.text == "HEADER":
        return header
    wanted = {name.lower() for name in section.fields}
    keep = section.text == "HEADER.FIELDS"
    lines: list[bytes] = []
    current_keep = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            continue
        if line[:1] not in (b" ", b"\t"):
            name = line.split(b":", 1)[0].decode("ascii", "replace").strip().lower()
            current_keep = (name in wanted) == keep
        if current_keep:
            lines.append(line)
    return b"".join(lines) + b"\r\n"


def fetch_items(
    copy: MessageCopy,
    flags: list[str],
    atts: tuple[FetchAtt, ...],
    *,
    uid: bool,
    envelopes: dict[Any, Encoded] | None = None,
) -> list[tuple[str, Any]]:
    """`envelopes`: ENVELOPEs already encoded, by message id (apps/imap/envelopes.py)."""
    items: list[tuple[str, Any]] = []
    names = {att.kind for att in atts}
    if uid and "UID" not in names:
        items.append(("UID", copy.uid))
    raw: bytes | None = None
    mime: MimeMessage | None = None
    for att in atts:
        if att.kind == "UID":
            items.append(("UID", copy.uid))
        elif att.kind == "FLAGS":
            items.append(("FLAGS", flag_list(flags)))
        elif att.kind == "INTERNALDATE":
            items.append(("INTERNALDATE", format_datetime(copy.received_at)))
        elif att.kind == "RFC822.SIZE":
            items.append(("RFC822.SIZE", copy.message.size))
        elif att.kind == "ENVELOPE" and envelopes is not None and copy.message_id in envelopes:
            items.append(("ENVELOPE", envelopes[copy.message_id]))
        elif att.kind == "ENVELOPE" and raw is None and copy.message.headers_enc:
            # The headers are kept apart (encrypted, small): no need to decrypt the whole message.
            items.append(("ENVELOPE", envelope(_headers_only(copy))))
        else:
            if raw is None:
                raw = raw_of(copy)
                mime = email.message_from_bytes(raw)
            items.append(_content_item(att, raw, mime))
    return items


def envelope_of(copy: MessageCopy) -> list[Any]:
    """The ENVELOPE of a copy's message: from the headers kept apart, else from the decrypted message."""
    if copy.message.headers_enc:
        return envelope(_headers_only(copy))
    return envelope(email.message_from_bytes(raw_of(copy)))


def _headers_only(copy: MessageCopy) -> HeaderPairs:
    message = copy.message
    pairs = content.open_json(content.data_key_of_copy(copy), message.pk, "headers", message.headers_enc)
    return HeaderPairs(pairs or [])


def _content_item(att: FetchAtt, raw: bytes, mime: Any) -> tuple[str, Any]:
    if att.kind == "ENVELOPE":
        return "ENVELOPE", envelope(mime)
    if att.kind in ("BODYSTRUCTURE", "BODY") and att.section is None:
        return att.kind, bodystructure(mime, extended=att.kind == "BODYSTRUCTURE")
    if att.kind in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
        return att.kind, section_bytes(raw, mime, att.section or Section())
    section = att.section or Section()
    data = section_bytes(raw, mime, section)
    if att.kind.startswith("BINARY") and section.part:  # BINARY: the part's content, transfer-decoded
        part = _part(mime, section.part)
        decoded = part.get_payload(decode=True) if part is not None and not part.is_multipart() else None
        data = decoded if isinstance(decoded, bytes) else data
    if att.kind == "BINARY.SIZE":
        return att.response_name(), len(data)
    if att.partial is not None:
        origin, length = att.partial
        data = data[origin : origin + length if length is not None else None]
    return att.response_name(), Literal8(data) if att.kind == "BINARY" else data
