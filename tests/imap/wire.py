"""Server responses checked with imapclient's response parser (the issue asks every response the server
sends in the tests to parse with it)."""

from __future__ import annotations

import re
from typing import Any

from imapclient.response_parser import parse_fetch_response, parse_response

_LITERAL = re.compile(rb"~?\{(\d+)\}\r\n")


def imaplib_chunks(line: bytes) -> list[Any]:
    """One untagged response (no `* `, literals inline) cut the way imaplib hands it to imapclient:
    `(text up to and including {n}, literal bytes)` tuples, then the remaining text."""
    chunks: list[Any] = []
    pos = 0
    while True:
        match = _LITERAL.search(line, pos)
        if match is None:
            break
        end = match.end() + int(match.group(1))
        chunks.append((line[pos : match.end() - 2], line[match.end() : end]))
        pos = end
    tail = line[pos:]
    if tail.endswith(b"\r\n"):
        tail = tail[:-2]
    if tail or not chunks:
        chunks.append(tail)
    return chunks


def parse_untagged(line: bytes) -> Any:
    """A `* …` response parsed by imapclient: FETCH responses into its dict, the others into tuples."""
    assert line.startswith(b"* "), line[:80]
    body = line[2:]
    match = re.match(rb"(\d+) FETCH ", body)
    if match:
        return parse_fetch_response(imaplib_chunks(match.group(1) + b" " + body[match.end() :]))
    return parse_response(imaplib_chunks(body))


def parse_tagged(line: bytes) -> tuple[bytes, ...]:
    """`tag OK [code] text` -> parsed items (tag, state, ...)."""
    return tuple(parse_response([line.rstrip(b"\r\n")]))


def split_responses(stream: bytes) -> list[bytes]:
    """A server's byte stream cut into whole responses (a response's literals belong to it)."""
    out = []
    pos = 0
    while pos < len(stream):
        start = pos
        while True:
            end = stream.index(b"\r\n", pos) + 2
            match = re.search(rb"~?\{(\d+)\}\r\n\Z", stream[pos:end])
            if match is None:
                pos = end
                break
            pos = end + int(match.group(1))
        out.append(stream[start:pos])
    return out


def check_stream(stream: bytes) -> int:
    """Parse every response of a session trace with imapclient; returns how many were checked."""
    count = 0
    for response in split_responses(stream):
        if response.startswith(b"+"):
            continue  # continuation requests carry free text or base64
        if response.startswith(b"* "):
            parse_untagged(response)
        else:
            parse_tagged(response)
        count += 1
    return count
