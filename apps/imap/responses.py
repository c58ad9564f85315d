"""Writing IMAP responses: values (atoms, numbers, strings, NIL, lists, literals) and status lines.

Values: `None` is NIL, `int` a number, `Raw` is written as is (atoms, flags, pre-built items), `str` is a
quoted string when it can be one (short, 7-bit, no CR/LF) else a literal of its UTF-8 bytes, `bytes` a
literal (`Literal8` a `~{n}` literal for BINARY), a list or tuple a parenthesised list. Status texts are
French (the person reads them in their client) and folded to ASCII when the client did not ENABLE UTF-8:
RFC 3501 texts are 7-bit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

QUOTED_MAX = 200


class Raw(str):
    """Written verbatim: atoms, flags, section names, already-formatted items."""


class Encoded(bytes):
    """A value already in its IMAP form (an ENVELOPE encoded once and kept): written verbatim."""


class Literal8(bytes):
    """Binary content of a BINARY[] fetch (RFC 3516): written `~{n}` and the bytes."""


_PUNCTUATION = str.maketrans({"«": "'", "»": "'", "’": "'", "–": "-", "—": "-", "\u00a0": " ", "\u202f": " "})
# Status texts are free text, but clients (imapclient among them) read them as tokens: no quotes or
# parentheses that would open a string or a list.
_TEXT_UNSAFE = str.maketrans({'"': "'", "(": " ", ")": " ", "[": " ", "]": " ", "{": " ", "}": " "})


def ascii_text(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_PUNCTUATION)).encode("ascii", "ignore").decode()
    return " ".join(folded.replace("\r", " ").replace("\n", " ").split())


# Printable 7-bit, tested by the regular expression engine rather than a Python loop over the bytes: an
# ENVELOPE has some twenty strings, a FETCH of 50 envelopes a thousand (the loop was a third of its CPU).
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")


def _quotable(value: bytes) -> bool:
    return len(value) <= QUOTED_MAX and _PRINTABLE.fullmatch(value) is not None


def encode(value: Any) -> bytes:
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise TypeError("booleans have no IMAP form")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, Raw):
        return value.encode("utf-8")
    if isinstance(value, Encoded):
        return bytes(value)
    if isinstance(value, Literal8):
        return b"~{%d}\r\n" % len(value) + bytes(value)
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if _quotable(data):
            return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        return b"{%d}\r\n" % len(data) + data
    if isinstance(value, list | tuple):
        return b"(" + b" ".join(encode(item) for item in value) + b")"
    raise TypeError(f"no IMAP form for {type(value).__name__}")


def encode_literal(value: bytes) -> bytes:
    return b"{%d}\r\n" % len(value) + value


def untagged(*parts: Any) -> bytes:
    return b"* " + b" ".join(encode(part) for part in parts) + b"\r\n"


def status(tag: str, state: str, text: str, code: str = "") -> bytes:
    """`<tag> OK|NO|BAD [code] text` (tag `*` for untagged)."""
    head = f"{tag} {state} " + (f"[{code}] " if code else "")
    return (head + (ascii_text(text.translate(_TEXT_UNSAFE)) or state)).encode("ascii") + b"\r\n"


def continuation(text: str = "") -> bytes:
    return b"+ " + ascii_text(text).encode("ascii") + b"\r\n"


def flag_list(flags: Iterable[str]) -> Raw:
    return Raw("(" + " ".join(flags) + ")")


def fetch_response(number: int, items: list[tuple[str, Any]]) -> bytes:
    """`* n FETCH (NAME value NAME value…)`."""
    return fetch_line(number, fetch_body(items))


def fetch_body(items: list[tuple[str, Any]]) -> bytes:
    """What goes between the parentheses of a FETCH response (kept for the message list: selected.py)."""
    return b" ".join(name.encode("ascii") + b" " + encode(value) for name, value in items)


def fetch_line(number: int, body: bytes) -> bytes:
    return b"* %d FETCH (" % number + body + b")\r\n"
