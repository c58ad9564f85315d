"""RFC 5322/2045 messages written as a stream: attachments never sit wholly in memory.

`write_message` produces the bytes that are sent, stored (encrypted) and hashed (SHA-256, non-repudiation):
multipart/mixed [ text/plain | multipart/alternative(text/plain, text/html) , attachments... ] with UTF-8
text parts in quoted-printable and attachments in base64 lines of 76 characters. Headers are folded and
encoded by the standard library's `email.policy.SMTP`, so non-ASCII names and subjects follow RFC 2047/2231.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Protocol

CRLF = b"\r\n"
# 57 input bytes make one 76-character base64 line; read a multiple of it.
_B64_CHUNK = 57 * 1024


class Writable(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


@dataclass(frozen=True)
class PartSource:
    """An attachment to write: `chunks()` yields its plaintext (called once per use)."""

    filename: str
    content_type: str
    chunks: Callable[[], Iterable[bytes]]


def new_message_id(domain: str) -> str:
    return make_msgid(idstring=secrets.token_hex(4), domain=domain)


def _header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    msg = EmailMessage(policy=SMTP)
    for name, value in headers:
        if value:
            msg[name] = value
    raw = msg.as_bytes()
    return raw.split(b"\r\n\r\n", 1)[0] + CRLF


def _text_part(text: str, subtype: str) -> bytes:
    part = MIMEPart(policy=SMTP)
    part.set_content(text, subtype=subtype, charset="utf-8", cte="quoted-printable")
    return part.as_bytes()


def _attachment_head(source: PartSource) -> bytes:
    part = MIMEPart(policy=SMTP)
    maintype, _, subtype = (source.content_type or "application/octet-stream").partition("/")
    part["Content-Type"] = f"{maintype}/{subtype or 'octet-stream'}"
    part.add_header("Content-Disposition", "attachment", filename=source.filename)
    part["Content-Transfer-Encoding"] = "base64"
    return part.as_bytes().split(b"\r\n\r\n", 1)[0] + CRLF + CRLF


def _base64_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        usable = len(pending) - len(pending) % 57
        if usable:
            yield _encode_lines(pending[:usable])
            pending = pending[usable:]
    if pending:
        yield _encode_lines(pending)


def _encode_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + CRLF for i in range(0, len(encoded), 76))


def _boundary() -> str:
    return "=_mss_" + secrets.token_hex(12)


def _write_body(out: Writable, text: str, html: str | None) -> None:
    if html is None:
        out.write(_text_part(text, "plain"))
        return
    boundary = _boundary()
    out.write(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode())
    for part in (_text_part(text, "plain"), _text_part(html, "html")):
        out.write(f"--{boundary}\r\n".encode() + part + CRLF)
    out.write(f"--{boundary}--\r\n".encode())


def write_message(
    out: Writable,
    *,
    headers: list[tuple[str, str]],
    text: str,
    html: str | None = None,
    attachments: Iterable[PartSource] = (),
) -> None:
    """Write a whole message. `headers` are (name, value) pairs; MIME-Version and Content-* are added."""
    attachments = list(attachments)
    out.write(_header_block([*headers, ("MIME-Version", "1.0")]))
    if not attachments:
        _write_body(out, text, html)
        return
    boundary = _boundary()
    out.write(f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode())
    out.write(b"Ce message est au format MIME.\r\n")
    out.write(f"--{boundary}\r\n".encode())
    _write_body(out, text, html)
    for source in attachments:
        out.write(f"\r\n--{boundary}\r\n".encode())
        out.write(_attachment_head(source))
        for lines in _base64_lines(source.chunks()):
            out.write(lines)
    out.write(f"\r\n--{boundary}--\r\n".encode())


def date_header(value) -> str:  # noqa: ANN001 (an aware datetime)
    return format_datetime(value)
