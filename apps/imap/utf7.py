"""Modified UTF-7 (RFC 3501 §5.1.3): how IMAP4rev1 spells folder names outside printable ASCII.

Printable ASCII stands for itself except `&`, written `&-`; any other run of characters is UTF-16BE in a
base64 alphabet where `/` is replaced by `,`, without padding, between `&` and `-`.
"""

from __future__ import annotations

import base64
import binascii


class Utf7Error(ValueError):
    pass


def _b64(run: str) -> str:
    return base64.b64encode(run.encode("utf-16-be")).decode("ascii").rstrip("=").replace("/", ",")


def encode(name: str) -> str:
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            if run:
                out.append("&" + _b64("".join(run)) + "-")
                run.clear()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    if run:
        out.append("&" + _b64("".join(run)) + "-")
    return "".join(out)


def decode(text: str) -> str:
    """The folder name a client sent; raises Utf7Error on what RFC 3501 forbids (bad base64, raw 8-bit)."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if not 0x20 <= ord(char) <= 0x7E:
            raise Utf7Error("raw non-ASCII character in a mailbox name")
        if char != "&":
            out.append(char)
            index += 1
            continue
        end = text.find("-", index + 1)
        if end < 0:
            raise Utf7Error("unterminated &... shift in a mailbox name")
        chunk = text[index + 1 : end]
        if not chunk:
            out.append("&")
        else:
            out.append(_decode_chunk(chunk))
        index = end + 1
    return "".join(out)


def _decode_chunk(chunk: str) -> str:
    data = chunk.replace(",", "/")
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
        decoded = raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Utf7Error("invalid modified base64 in a mailbox name") from exc
    if (
        any(0x20 <= ord(char) <= 0x7E for char in decoded) or _b64(decoded) != chunk
    ):  # non-canonical spellings would name one folder two ways
        raise Utf7Error("non-canonical modified UTF-7 in a mailbox name")
    return decoded
