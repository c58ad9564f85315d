"""What a sender wrote is never invisible: forwarded messages, digests and extra text parts read inline.

`email.message.EmailMessage.get_body()` picks one text/plain and one text/html part and `iter_attachments()`
lists the top level's other parts. That leaves three holes, all seen in real mail:
- a forwarded message as the whole body (`message/rfc822`): no body and no attachment, a blank page;
- a digest (`multipart/digest`): its messages become opaque downloads named `piece-jointe-N`;
- several text parts (e.g. an HTML part then a plain one in `multipart/mixed`): the reader shows one body,
  the other is neither shown nor offered.

`readable_content` detects those structures and then walks the whole tree: each nested message becomes a
quoted block with its own headers (De, À, Date, Objet), its text and the names of its attachments; its
attachments join the message's own list under their real names; every inline text part is shown in order.
Such a message is shown as text (HTML parts converted): one readable sequence is worth more than the layout.
Ordinary messages keep the usual path (one body, HTML when present). The raw MIME is stored anyway.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

# Deeper nesting than this (a forward of a forward of…) is kept as a downloadable .eml, never parsed further.
MAX_DEPTH = 5
_BLOCK_TAGS = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_DROPPED = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_TEXT_TYPES = ("text/plain", "text/html")
_HEADERS = (("From", "De"), ("To", "À"), ("Cc", "Cc"), ("Date", "Date"), ("Subject", "Objet"))

Attachment = tuple[str, str, bytes]  # (filename, content type, payload): services_inbound's shape


@dataclass
class _Walk:
    part_text: Callable[[Any], str]
    part_bytes: Callable[[Any], bytes]
    blocks: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def html_to_text(source: str) -> str:
    text = _BLOCK_TAGS.sub("\n", _DROPPED.sub(" ", source))
    text = html_lib.unescape(_TAGS.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _is_inline_text(part: EmailMessage) -> bool:
    return part.get_content_type() in _TEXT_TYPES and part.get_content_disposition() != "attachment"


def _inline_texts(part: EmailMessage) -> Iterator[EmailMessage]:
    """Every inline text leaf of this message (not those of nested messages)."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _inline_texts(sub)  # type: ignore[arg-type]
    elif _is_inline_text(part):
        yield part


def _has_nested_message(part: EmailMessage) -> bool:
    if part.get_content_type() in ("message/rfc822", "multipart/digest"):
        return True
    if part.get_content_maintype() != "multipart":
        return False
    return any(_has_nested_message(sub) for sub in part.iter_parts())  # type: ignore[arg-type]


def needs_walk(parsed: EmailMessage) -> bool:
    """True when the usual body + attachments reading would hide something the sender wrote."""
    try:
        if _has_nested_message(parsed):
            return True
        texts = list(_inline_texts(parsed))
        if len(texts) <= 1:
            return False
        if len(texts) > 2:
            return True
        # Two text parts are one body only as the two renderings of a multipart/alternative.
        return not _same_alternative(parsed, texts[0], texts[1])
    except Exception:  # noqa: BLE001 — malformed MIME: keep the usual (robust) reading
        return False


def _same_alternative(part: EmailMessage, first: EmailMessage, second: EmailMessage) -> bool:
    if part.get_content_maintype() != "multipart":
        return False
    subs = list(part.iter_parts())
    if (
        part.get_content_subtype() == "alternative"
        and any(s is first for s in subs)
        and any(s is second for s in subs)
    ):
        return first.get_content_subtype() != second.get_content_subtype()
    return any(_same_alternative(sub, first, second) for sub in subs)  # type: ignore[arg-type]


def _alternative_text(part: EmailMessage, walk: _Walk) -> str:
    """The plain rendering of a multipart/alternative, else its HTML converted."""
    subs = list(part.iter_parts())
    for wanted in ("text/plain", "text/html"):
        for sub in subs:
            if sub.get_content_type() == wanted:
                text = walk.part_text(sub)
                return text if wanted == "text/plain" else html_to_text(text)
    return ""


def _header_lines(message: EmailMessage, header_text: Callable[[EmailMessage, str], str]) -> list[str]:
    return [f"{label} : {value}" for name, label in _HEADERS if (value := header_text(message, name))]


def _nested(part: EmailMessage, depth: int, walk: _Walk, header_text: Callable[..., str]) -> None:
    payload = part.get_payload()
    inner: Any = payload[0] if isinstance(payload, list) and payload else None
    if inner is None or depth >= MAX_DEPTH:
        walk.attachments.append(
            (f"message-{len(walk.attachments) + 1}.eml", "message/rfc822", walk.part_bytes(part))
        )
        return
    before = len(walk.attachments)
    inner_walk = _Walk(walk.part_text, walk.part_bytes, attachments=walk.attachments)
    _visit(inner, depth + 1, inner_walk, header_text)
    lines = ["---------- Message transféré ----------", *_header_lines(inner, header_text), ""]
    lines.append("\n\n".join(inner_walk.blocks) or "(message sans texte)")
    names = [name for name, _ctype, _data in walk.attachments[before:]]
    if names:
        lines += ["", "Pièces jointes de ce message : " + ", ".join(names)]
    lines.append("---------- Fin du message transféré ----------")
    walk.blocks.append("\n".join(lines))


def _visit(part: EmailMessage, depth: int, walk: _Walk, header_text: Callable[..., str]) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        _nested(part, depth, walk, header_text)
    elif ctype == "multipart/alternative":
        text = _alternative_text(part, walk)
        if text.strip():
            walk.blocks.append(text.strip("\n"))
    elif part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            _visit(sub, depth, walk, header_text)  # type: ignore[arg-type]
    elif _is_inline_text(part):
        text = walk.part_text(part)
        text = html_to_text(text) if ctype == "text/html" else text
        if text.strip():
            walk.blocks.append(text.strip("\n"))
    else:
        try:
            name = part.get_filename() or ""
        except Exception:  # noqa: BLE001
            name = ""
        name = name or f"piece-jointe-{len(walk.attachments) + 1}"
        walk.attachments.append((str(name), ctype, walk.part_bytes(part)))


def readable_content(
    parsed: EmailMessage,
    *,
    part_text: Callable[[Any], str],
    part_bytes: Callable[[Any], bytes],
    header_text: Callable[[EmailMessage, str], str],
) -> tuple[str, list[Attachment]]:
    """The whole message as one text (nested messages quoted with their headers) and every attachment."""
    walk = _Walk(part_text, part_bytes)
    _visit(parsed, 0, walk, header_text)
    return "\n\n".join(walk.blocks), walk.attachments
