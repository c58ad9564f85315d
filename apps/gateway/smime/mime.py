"""Raw MIME handling for S/MIME: cut a message into routing fields, Content-* fields and body, as bytes.

A signature covers the signed entity byte for byte, which a parse and re-serialise round trip through the
email package does not preserve; hence this small byte-level layer.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from enum import StrEnum
from io import BytesIO

CRLF = b"\r\n"
_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# 7-bit output so that no relay re-encodes (and thereby breaks) a signed entity (RFC 8551 §3.1.2).
_SEVEN_BIT = policy.SMTP.clone(cte_type="7bit")
SIGNATURE_TYPES = {"application/pkcs7-signature", "application/x-pkcs7-signature"}
CMS_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime"}


class SmimeError(ValueError):
    """A message that cannot be signed, encrypted or decrypted; `label` is shown to users (French)."""

    def __init__(self, detail: str, label: str) -> None:
        super().__init__(detail)
        self.label = label


class SmimeKind(StrEnum):
    NONE = "none"
    SIGNED = "signed"  # multipart/signed, detached signature
    SIGNED_OPAQUE = "signed-opaque"  # application/pkcs7-mime; smime-type=signed-data
    ENCRYPTED = "encrypted"  # application/pkcs7-mime; smime-type=enveloped-data


@dataclass(frozen=True)
class Split:
    """A message cut into its routing fields, its Content-* fields and its body (all raw bytes)."""

    outer: list[bytes]
    content: list[bytes]
    body: bytes
    head: bytes = field(repr=False)


def split_message(raw: bytes) -> Split:
    end = _HEADER_END.search(raw)
    if raw.startswith((b"\r\n", b"\n")):
        head, body = b"", raw[2 if raw.startswith(b"\r\n") else 1 :]
    elif end is None:
        head, body = raw, b""
    else:
        head, body = raw[: end.start()], raw[end.end() :]
    fields: list[bytes] = []
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + CRLF
        elif line.strip():
            fields.append(line + CRLF)
    outer: list[bytes] = []
    content: list[bytes] = []
    for f in fields:
        name = f.split(b":", 1)[0].strip().lower()
        if name.startswith(b"content-"):
            content.append(f)
        elif name != b"mime-version":
            outer.append(f)
    return Split(outer, content, body, head)


def entity_of(parts: Split) -> bytes:
    """The MIME entity that gets signed or encrypted, in canonical CRLF form."""
    return canonical(b"".join(parts.content) + CRLF + parts.body)


def canonical(data: bytes) -> bytes:
    return _BARE_LF.sub(CRLF, data) if _BARE_LF.search(data) else data


def serialise(message: EmailMessage | bytes, *, seven_bit: bool) -> bytes:
    """Bytes of `message`; with `seven_bit`, 8-bit text parts are re-encoded (base64/QP) first."""
    if isinstance(message, bytes):
        if not seven_bit or message.isascii():
            return message
        message = BytesParser(policy=policy.default).parsebytes(message)  # type: ignore[assignment]
    buffer = BytesIO()
    BytesGenerator(buffer, policy=_SEVEN_BIT if seven_bit else policy.SMTP).flatten(message)  # type: ignore[arg-type]
    return buffer.getvalue()


def header_block(parts: Split) -> Message:
    # compat32: raw header strings; policy.default's structured parsing raises on some malformed headers.
    return BytesHeaderParser(policy=policy.compat32).parsebytes(parts.head)


def smime_kind(raw: bytes) -> SmimeKind:
    """Which S/MIME layer, if any, wraps this message (only its header block is read)."""
    return kind_of(header_block(split_message(raw)))


def kind_of(headers: Message) -> SmimeKind:
    ctype = headers.get_content_type()
    if ctype == "multipart/signed" and str(headers.get_param("protocol", "")).lower() in SIGNATURE_TYPES:
        return SmimeKind.SIGNED
    if ctype in CMS_TYPES:
        smime_type = str(headers.get_param("smime-type", "")).lower()
        if smime_type == "signed-data":
            return SmimeKind.SIGNED_OPAQUE
        # Old clients omit smime-type; the envelope is by far the common case then.
        if smime_type in ("enveloped-data", "authenveloped-data", ""):
            return SmimeKind.ENCRYPTED
    return SmimeKind.NONE


def rewrap(parts: Split, entity: bytes) -> bytes:
    """Routing fields of the wrapper in front of the entity found inside it."""
    return b"".join(parts.outer) + b"MIME-Version: 1.0\r\n" + entity


def base64_lines(der: bytes) -> bytes:
    return base64.encodebytes(der).replace(b"\n", CRLF)


def cms_part_headers(smime_type: str) -> bytes:
    return (
        f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7m"\r\n'
    ).encode()


def decode_body(parts: Split) -> bytes:
    encoding = header_block(parts).get("Content-Transfer-Encoding", "base64").strip().lower()
    if encoding == "binary":
        return parts.body
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", parts.body), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64 in CMS body: {exc}") from exc
