"""IMAP tokens (RFC 3501 §4, §9): atoms, strings (quoted or literal), parenthesised lists.

The server hands `tokenize` one whole command: the line and any literals it announced (`{n}` / `{n+}`
followed by CRLF and n bytes, LITERAL+ RFC 7888), so the grammar below never waits on the network. An atom
may carry a bracketed part with spaces inside (`BODY[HEADER.FIELDS (FROM TO)]<0.100>`), kept whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DEPTH = 16
_ATOM_STOP = frozenset(b' ()"{\r\n')
_LITERAL = re.compile(rb"~?\{(\d{1,10})(\+?)\}\r\n")
_LITERAL_AT_END = re.compile(rb"~?\{(\d{1,10})(\+?)\}\r\n\Z")


class ParseError(ValueError):
    """A command that does not follow the grammar: the server answers BAD with this (English) text."""


@dataclass(frozen=True)
class Atom:
    value: str

    @property
    def upper(self) -> str:
        return self.value.upper()


@dataclass(frozen=True)
class String:
    value: bytes
    literal: bool = False

    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


Token = Atom | String | list  # list: a parenthesised list of tokens


def literal_at_end(line: bytes) -> tuple[int, bool] | None:
    """(size, non-synchronising) when a received line ends by announcing a literal, else None."""
    match = _LITERAL_AT_END.search(line)
    if match is None:
        return None
    return int(match.group(1)), bool(match.group(2))


def tokenize(data: bytes) -> list[Token]:
    """The tokens of one command (its final CRLF optional); raises ParseError."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    tokens, pos = _sequence(data, 0, 0)
    if pos != len(data):
        raise ParseError("unexpected ')'")
    return tokens


def _sequence(data: bytes, pos: int, depth: int) -> tuple[list[Token], int]:
    if depth > MAX_DEPTH:
        raise ParseError("lists nested too deeply")
    tokens: list[Token] = []
    while pos < len(data):
        byte = data[pos]
        if byte == 0x29:  # ')'
            return tokens, pos
        if tokens:
            if byte != 0x20:
                raise ParseError("missing space between arguments")
            pos += 1
            if pos >= len(data):
                raise ParseError("trailing space")
            byte = data[pos]
        token, pos = _token(data, pos, depth)
        tokens.append(token)
    return tokens, pos


def _token(data: bytes, pos: int, depth: int) -> tuple[Token, int]:
    byte = data[pos]
    if byte == 0x28:  # '('
        inner, pos = _sequence(data, pos + 1, depth + 1)
        if pos >= len(data) or data[pos] != 0x29:
            raise ParseError("unclosed '('")
        return inner, pos + 1
    if byte == 0x22:  # '"'
        return _quoted(data, pos + 1)
    if byte == 0x7B or (byte == 0x7E and data[pos + 1 : pos + 2] == b"{"):  # '{' or '~{'
        match = _LITERAL.match(data, pos)
        if match is None:
            raise ParseError("malformed literal")
        start = match.end()
        end = start + int(match.group(1))
        if end > len(data):
            raise ParseError("literal shorter than announced")
        return String(data[start:end], literal=True), end
    return _atom(data, pos)


def _quoted(data: bytes, pos: int) -> tuple[String, int]:
    out = bytearray()
    while pos < len(data):
        byte = data[pos]
        if byte == 0x22:
            return String(bytes(out)), pos + 1
        if byte == 0x5C:  # backslash: only \\ and \" are allowed
            nxt = data[pos + 1 : pos + 2]
            if nxt not in (b"\\", b'"'):
                raise ParseError("invalid escape in quoted string")
            out += nxt
            pos += 2
            continue
        if byte in (0x0D, 0x0A, 0x00):
            raise ParseError("CR, LF or NUL in quoted string")
        out.append(byte)
        pos += 1
    raise ParseError("unterminated quoted string")


def _atom(data: bytes, pos: int) -> tuple[Atom, int]:
    start = pos
    while pos < len(data) and data[pos] not in _ATOM_STOP:
        if data[pos] == 0x5B:  # '[': a section, read to its matching ']' (spaces and lists allowed)
            pos = _bracket_end(data, pos)
        elif data[pos] < 0x20 or data[pos] == 0x7F:
            raise ParseError("control character in atom")
        else:
            pos += 1
    if pos == start:
        raise ParseError("empty argument")
    try:
        return Atom(data[start:pos].decode("ascii")), pos
    except UnicodeDecodeError:
        raise ParseError("8-bit characters in atom") from None


def _bracket_end(data: bytes, pos: int) -> int:
    depth = 0
    while pos < len(data):
        byte = data[pos]
        if byte == 0x5B:
            depth += 1
        elif byte == 0x5D:
            depth -= 1
            if depth == 0:
                return pos + 1
        elif byte in (0x0D, 0x0A, 0x22, 0x7B):
            break
        pos += 1
    raise ParseError("unclosed '['")


def astring(token: Token) -> bytes:
    """An astring argument (atom or string) as bytes; ParseError for a list."""
    if isinstance(token, Atom):
        return token.value.encode("ascii")
    if isinstance(token, String):
        return token.value
    raise ParseError("string expected, got a list")


def atom(token: Token) -> str:
    if not isinstance(token, Atom):
        raise ParseError("atom expected")
    return token.value
