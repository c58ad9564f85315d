"""RFC 5322/2045 messages written as a stream: attachments never sit wholly in memory.

`write_message` produces the bytes that are sent, stored (encrypted) and hashed (SHA-256, non-repudiation):
multipart/mixed [ text/plain | multipart/alternative(text/plain, text/html) , attachments... ] with UTF-8
text parts in quoted-printable and attachments in base64 lines of 76 characters. Non-ASCII subjects and
display names are RFC 2047 encoded-words, non-ASCII file names RFC 2231 parameters.

This runs once per submitted message (~100 KB), so the common shapes are written directly (C encoders from
binascii, headers as strings): the standard library's `email.policy.SMTP` header registry alone cost more
than a millisecond a message. Values outside those shapes (address lists with non-ASCII names, unusual
content types...) still go through `email.policy.SMTP`, which handles every corner of RFC 5322/2047/2231.
tests/messaging/test_mime.py parses the output back with email.parser and compares it with the former,
all-`email.policy` writer.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import secrets
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.headerregistry import AddressHeader
from email.message import MIMEPart
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Protocol, TypeVar

CRLF = b"\r\n"
_T = TypeVar("_T")
# RFC 5322 §2.1.1: lines SHOULD stay within 78 characters and MUST within 998.
_MAX_LINE, _HARD_MAX_LINE = 78, 998
# An encoded-word is at most 75 characters (RFC 2047 §2); "=?utf-8?q?" and "?=" take 12 of them.
_EW_PAYLOAD = 75 - 12
_REGISTRY = SMTP.header_factory.registry  # type: ignore[attr-defined]
_ADDRESS_HEADERS = frozenset(name for name, kind in _REGISTRY.items() if issubclass(kind, AddressHeader))
# Date, Message-ID, MIME-Version, Content-*: non-ASCII values there are errors the registry reports.
_STRUCTURED = frozenset(_REGISTRY) - _ADDRESS_HEADERS - {"subject"}
_UNIQUE = frozenset(name for name, kind in _REGISTRY.items() if getattr(kind, "max_count", None) == 1)
# "Display Name <local@domain>" with a name free of RFC 5322 specials: the common non-ASCII From/To.
_NAME_CHAR = r"[^\x00-\x1f\x7f()<>\[\]:;@\\,.\"]"
_NAMED_ADDRESS = re.compile(
    rf"(?P<name>{_NAME_CHAR}+) <(?P<addr>[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]+@[A-Za-z0-9.-]+)>"
)
# RFC 2047 §5 (3): the characters an encoded-word in a phrase may carry as they are; space is "_".
_Q_SAFE = frozenset(string.ascii_letters + string.digits + "!*+-/")
_Q_BYTE = [chr(b) if chr(b) in _Q_SAFE else f"={b:02X}" for b in range(256)]
_Q_BYTE[0x20] = "_"
_Q_CHAR = {chr(b): _Q_BYTE[b] for b in range(128)}
# RFC 2231 attribute-char: printable ASCII except space, "*", "'", "%" and the RFC 2045 tspecials.
_ATTRIBUTE_CHARS = frozenset(string.ascii_letters + string.digits + "!#$&+-.^_`|~")
_PCT = [chr(b) if chr(b) in _ATTRIBUTE_CHARS else f"%{b:02X}" for b in range(256)]
# " filename*NN*=" + segment + ";" within 78 characters (up to 99 segments; "utf-8''" fits in the first).
_RFC2231_SEGMENT = _MAX_LINE - len(" filename*99*=utf-8'';")
_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")  # a MIME type or subtype (RFC 6838 restricted names)
_TEXT_HEAD = {
    html: f'Content-Type: text/{"html" if html else "plain"}; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii")
    for html in (False, True)
}


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
    """The header lines, empty values skipped; at most one of each header RFC 5322 allows once."""
    seen: set[str] = set()
    lines = []
    for name, value in headers:
        if not value:
            continue
        lname = name.lower()
        if lname in _UNIQUE:
            if lname in seen:
                raise ValueError(f"There may be at most 1 {name} headers in a message")
            seen.add(lname)
        lines.append(_header(name, value))
    return b"".join(lines)


def _header(name: str, value: str) -> bytes:
    """One header field, folded. Most values (addresses, dates, ids, ASCII subjects) are printable ASCII and
    are written as they are: going through email.policy's header registry costs ~100 µs a header."""
    if value.isascii() and value.isprintable() and "=?" not in value:
        if len(name) + len(value) <= _MAX_LINE - 2:
            return f"{name}: {value}\r\n".encode("ascii")
        return _fold(name, value.split(" ")) or _policy_header(name, value)
    if len(value.splitlines()) > 1:  # the policy's own check: no header injection through a value
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    lname = name.lower()
    if lname in _ADDRESS_HEADERS:
        named = _NAMED_ADDRESS.fullmatch(value)
        display = named["name"].strip(" ") if named else ""
        # Lists, groups, quoted or unusual names go to the registry, which knows them all; so do names
        # that need two encoded-words: Python's reader keeps the space between two encoded-words of a
        # phrase (RFC 2047 drops it), so they would read back differently from the former writer's.
        encoded = _encoded_words(display, len(name) + 2) if display else []
        if named is None or len(encoded) != 1:
            return _policy_header(name, value)
        words = [*encoded, f"<{named['addr']}>"]
    elif lname in _STRUCTURED:
        return _policy_header(name, value)
    else:
        words = _unstructured_words(name, value)
    return _fold(name, words) or _policy_header(name, value)


def _policy_header(name: str, value: str) -> bytes:
    """The standard library's rendering (RFC 2047/5322 with every corner case), for the rare values the
    fast paths above do not cover."""
    return SMTP.fold_binary(*SMTP.header_store_parse(name, value))


def _fold(name: str, words: list[str]) -> bytes | None:
    """`name: ` + the words joined by single spaces, folded (CRLF before a space, RFC 5322 §2.2.3) so lines
    stay within 78 characters where a word allows it. Unfolding gives back exactly the joined words. None
    when a word would make a line longer than RFC 5322's hard limit."""
    lines = []
    current = name + ":"
    content = False  # never fold right after the name: the value would then start with a space
    for word in words:
        if word and content and len(current) + 1 + len(word) > _MAX_LINE:
            lines.append(current)
            current = " " + word
        else:
            current += " " + word
            content = content or bool(word)
    lines.append(current)
    if any(len(line) > _HARD_MAX_LINE for line in lines):
        return None
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _needs_encoding(word: str) -> bool:
    return not (word.isascii() and word.isprintable()) or "=?" in word


def _unstructured_words(name: str, value: str) -> list[str]:
    """RFC 2047 for an unstructured value: the span from the first to the last word that is not printable
    ASCII becomes encoded-words; the ASCII words around it stay readable. Words are split on single spaces
    so that every space outside the span survives folding and unfolding."""
    words = value.split(" ")
    flags = [_needs_encoding(word) for word in words]
    first = flags.index(True)
    last = len(flags) - flags[::-1].index(True)
    column = len(name) + 2 + sum(len(word) + 1 for word in words[:first])
    return [*words[:first], *_encoded_words(" ".join(words[first:last]), column), *words[last:]]


def _encoded_words(text: str, column: int) -> list[str]:
    """`text` as UTF-8 encoded-words (RFC 2047) of at most 75 characters, each holding whole characters.
    Q encoding (readable for French) unless base64 is shorter (emoji, other scripts), as email.policy
    does. The Q alphabet is the one allowed in phrases (§5 (3)), so display names can use it too. The
    first word is shortened to end the line it starts at `column` within 78 characters, when it can."""
    first = _MAX_LINE - column - 12 if column <= _MAX_LINE - 12 - 16 else _EW_PAYLOAD
    first = min(first, _EW_PAYLOAD)
    pieces = [_Q_CHAR.get(ch) or "".join([_Q_BYTE[b] for b in ch.encode("utf-8")]) for ch in text]
    size = len(text.encode("utf-8"))
    if sum(map(len, pieces)) <= (size + 2) // 3 * 4:
        chunks = _chunks(pieces, map(len, pieces), _EW_PAYLOAD, first)
        return ["=?utf-8?q?" + "".join(chunk) + "?=" for chunk in chunks]
    raw = [ch.encode("utf-8") for ch in text]
    # 45 bytes make 60 base64 characters: the largest multiple of 4 within the 63 a word can hold.
    return [
        "=?utf-8?b?" + binascii.b2a_base64(b"".join(chunk), newline=False).decode("ascii") + "?="
        for chunk in _chunks(raw, map(len, raw), 45, first // 4 * 3)
    ]


def _chunks(
    items: list[_T], sizes: Iterable[int], budget: int, first: int | None = None
) -> Iterator[list[_T]]:
    """`items` in order, grouped so each group's sizes add up to `budget` (`first` for the first group)
    or hold a single item."""
    chunk: list[_T] = []
    used = 0
    limit = budget if first is None else first
    for item, size in zip(items, sizes, strict=True):
        if chunk and used + size > limit:
            yield chunk
            chunk, used, limit = [], 0, budget
        chunk.append(item)
        used += size
    if chunk:
        yield chunk


def _text_part(text: str, subtype: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends, as email's set_content(cte="quoted-printable") writes it
    (lines normalised, a final line end added) but with binascii's C encoder. binascii.b2a_qp keeps lines
    within 76 characters, encodes '=', 8-bit and control bytes, trailing spaces and a lone '.' line; the
    only thing it would let through, a bare CR, cannot occur once lines are split and rejoined."""
    body = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    return _TEXT_HEAD[subtype == "html"] + binascii.b2a_qp(body, istext=True)


def _attachment_head(source: PartSource) -> bytes:
    maintype, _, subtype = (source.content_type or "application/octet-stream").partition("/")
    subtype = subtype or "octet-stream"
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        return _policy_attachment_head(source)
    return (
        f"Content-Type: {maintype}/{subtype}\r\n"
        f"{_disposition(source.filename)}"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii")


def _disposition(filename: str) -> str:
    """Content-Disposition with the file name: a quoted string when it is short printable ASCII, else
    RFC 2231 (UTF-8, percent-encoded, continued over lines of at most 78 characters)."""
    plain = f'Content-Disposition: attachment; filename="{filename}"'
    if (
        len(plain) <= _MAX_LINE
        and filename.isascii()
        and filename.isprintable()
        and not any(ch in filename for ch in '"\\')
        and "=?" not in filename
    ):
        return plain + "\r\n"
    pieces = ["".join([_PCT[b] for b in ch.encode("utf-8")]) for ch in filename]
    if sum(map(len, pieces)) <= _MAX_LINE - len(" filename*=utf-8'';"):
        return "Content-Disposition: attachment;\r\n filename*=utf-8''" + "".join(pieces) + "\r\n"
    segments = ["".join(chunk) for chunk in _chunks(pieces, map(len, pieces), _RFC2231_SEGMENT)]
    segments[0] = "utf-8''" + segments[0]
    params = [f" filename*{n}*={segment}" for n, segment in enumerate(segments)]
    return "Content-Disposition: attachment;\r\n" + ";\r\n".join(params) + "\r\n"


def _policy_attachment_head(source: PartSource) -> bytes:
    """Unusual content types (parameters, odd characters): the standard library renders them."""
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
    # One C call for the whole chunk, then slices: a b2a_base64 call per 57-byte line costs more.
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)]) + CRLF


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


@dataclass(frozen=True)
class WrittenPart:
    """Where an attachment's base64 body lies in the written message (byte offsets), and the size and
    SHA-256 of its decoded bytes: the attachment is stored once, inside the raw message."""

    start: int
    end: int
    size: int
    sha256: str


class _Offset:
    def __init__(self, out: Writable) -> None:
        self.out, self.offset = out, 0

    def write(self, data: bytes) -> None:
        self.offset += len(data)
        self.out.write(data)


def write_message(
    out: Writable,
    *,
    headers: list[tuple[str, str]],
    text: str,
    html: str | None = None,
    attachments: Iterable[PartSource] = (),
) -> list[WrittenPart]:
    """Write a whole message. `headers` are (name, value) pairs; MIME-Version and Content-* are added.
    Returns where each attachment was written."""
    attachments = list(attachments)
    counted = _Offset(out)
    counted.write(_header_block([*headers, ("MIME-Version", "1.0")]))
    if not attachments:
        _write_body(counted, text, html)
        return []
    boundary = _boundary()
    counted.write(f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode())
    counted.write(b"Ce message est au format MIME.\r\n")
    counted.write(f"--{boundary}\r\n".encode())
    _write_body(counted, text, html)
    parts = []
    for source in attachments:
        counted.write(f"\r\n--{boundary}\r\n".encode())
        counted.write(_attachment_head(source))
        parts.append(_write_base64(counted, source.chunks()))
    counted.write(f"\r\n--{boundary}--\r\n".encode())
    return parts


def _write_base64(counted: _Offset, chunks: Iterable[bytes]) -> WrittenPart:
    start, digest, size = counted.offset, hashlib.sha256(), 0

    def hashed() -> Iterator[bytes]:
        nonlocal size
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            yield chunk

    for lines in _base64_lines(hashed()):
        counted.write(lines)
    return WrittenPart(start, counted.offset, size, digest.hexdigest())


def base64_slice(chunks: Iterable[bytes], start: int, end: int) -> Iterator[bytes]:
    """The decoded bytes of the base64 text at [start, end) of a stream of chunks (line breaks dropped),
    decoded as it streams: reading an attachment from the raw message never holds it whole."""
    position, pending = 0, b""
    for chunk in chunks:
        low, high = max(start - position, 0), min(end - position, len(chunk))
        position += len(chunk)
        if high > low:
            pending += chunk[low:high].translate(None, b"\r\n")
            usable = len(pending) - len(pending) % 4
            if usable:
                yield binascii.a2b_base64(pending[:usable])
                pending = pending[usable:]
        if position >= end:
            break
    if pending:
        yield binascii.a2b_base64(pending)


def date_header(value) -> str:  # noqa: ANN001 (an aware datetime)
    return format_datetime(value)
