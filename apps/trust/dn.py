"""Distinguished names of operator certificates, compared attribute by attribute (pure, no Django).

The liste blanche publishes DNs as RFC 4514 strings ("CN=mss.exemple.fr,OU=318310021300028,O=GIP,ST=Paris
(75),C=FR") written by hand by many operators, while the SMTP gateway sees the peer certificate's subject as
an X.509 Name. Raw string comparison would refuse a legitimate peer for a space, a case or an attribute
synonym (S/ST, E/emailAddress, OID.2.5.4.3), so both sides are reduced to one canonical form:
- attribute types map to one name (known short name, otherwise the dotted OID);
- values are unescaped (\\, \\" \\2C and UTF-8 hex pairs), NFKC-normalised, case-folded, inner whitespace
  collapsed: the X.520 string attributes all use caseIgnoreMatch with insignificant-space handling;
- "#hex" (BER) values are kept as lowercase hex and compared exactly;
- AVAs of a multi-valued RDN (joined by '+') are sorted, RDN order is kept.
`dn_equal` also accepts the reverse RDN order, because some tools print DNs in ASN.1 order (C first).
"""

from __future__ import annotations

import functools
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

# (attribute key, value, value is BER hex): a literal "#abc" string must not be read back as hex.
AVA = tuple[str, str, bool]
RDN = tuple[AVA, ...]
DN = tuple[RDN, ...]


class DNParseError(ValueError):
    """The string is not a distinguished name we can read."""


# Canonical short names by OID, and every spelling accepted for them.
_OID_NAMES = {
    "2.5.4.3": "cn",
    "2.5.4.4": "sn",
    "2.5.4.5": "serialnumber",
    "2.5.4.6": "c",
    "2.5.4.7": "l",
    "2.5.4.8": "st",
    "2.5.4.9": "street",
    "2.5.4.10": "o",
    "2.5.4.11": "ou",
    "2.5.4.12": "title",
    "2.5.4.17": "postalcode",
    "2.5.4.42": "givenname",
    "2.5.4.97": "organizationidentifier",
    "0.9.2342.19200300.100.1.1": "uid",
    "0.9.2342.19200300.100.1.25": "dc",
    "1.2.840.113549.1.9.1": "emailaddress",
}
_SYNONYMS = {
    "s": "st",
    "stateorprovincename": "st",
    "commonname": "cn",
    "surname": "sn",
    "countryname": "c",
    "localityname": "l",
    "streetaddress": "street",
    "organizationname": "o",
    "organizationalunitname": "ou",
    "t": "title",
    "gn": "givenname",
    "e": "emailaddress",
    "email": "emailaddress",
    "userid": "uid",
    "domaincomponent": "dc",
}
_KNOWN = set(_OID_NAMES.values())
_SPECIALS = ',+"\\<>;='


def attribute_key(name: str) -> str:
    """The canonical name of an attribute type: 'ST', 's', 'OID.2.5.4.8' and '2.5.4.8' all give 'st'."""
    key = name.strip().lower()
    if key.startswith("oid."):
        key = key[4:]
    if key and key[0].isdigit():
        if not all(part.isdigit() for part in key.split(".")):
            raise DNParseError(f"Type d'attribut invalide : « {name} »")
        return _OID_NAMES.get(key, key)
    key = _SYNONYMS.get(key, key)
    if not key or not all(ch.isalnum() or ch == "-" for ch in key):
        raise DNParseError(f"Type d'attribut invalide : « {name} »")
    return key


def fold_value(value: str) -> str:
    """caseIgnoreMatch with insignificant spaces: NFKC, case-folded, whitespace runs collapsed, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


class _Reader:
    """A cursor over one DN string; each method consumes one grammar element of RFC 4514."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def attribute_type(self) -> str:
        start = self.pos
        while self.peek() and self.peek() != "=":
            if self.peek() in ",+;":
                raise DNParseError(f"« = » attendu après « {self.text[start : self.pos].strip()} »")
            self.pos += 1
        if not self.peek():
            raise DNParseError(f"« = » manquant dans « {self.text[start:].strip()} »")
        name = self.text[start : self.pos]
        self.pos += 1  # the '='
        return attribute_key(name)

    def value(self, key: str) -> str | AVA:
        self.skip_spaces()
        if self.peek() == "#":
            return (key, self._hex_value(), True)
        if self.peek() == '"':
            return self._quoted_value()
        return self._plain_value()

    def _hex_value(self) -> str:
        start = self.pos
        self.pos += 1
        while self.peek() and self.peek() not in ",+; ":
            self.pos += 1
        digits = self.text[start + 1 : self.pos].lower()
        if not digits or len(digits) % 2 or any(ch not in "0123456789abcdef" for ch in digits):
            raise DNParseError(f"Valeur hexadécimale invalide : « {self.text[start : self.pos]} »")
        return digits

    def _quoted_value(self) -> str:
        self.pos += 1
        out = bytearray()
        while True:
            ch = self.peek()
            if not ch:
                raise DNParseError("Guillemet fermant manquant")
            if ch == '"':
                self.pos += 1
                return out.decode("utf-8", errors="strict")
            if ch == "\\":
                out += self._escape()
            else:
                out += ch.encode()
                self.pos += 1

    def _plain_value(self) -> str:
        out = bytearray()
        keep = 0  # length that ends with a non-space or an escaped char: trailing raw spaces are dropped
        while self.peek() and self.peek() not in ",+;":
            if self.peek() == "\\":
                out += self._escape()
                keep = len(out)
            else:
                ch = self.peek()
                out += ch.encode()
                self.pos += 1
                if ch != " ":
                    keep = len(out)
        try:
            return bytes(out[:keep]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DNParseError("Séquence UTF-8 invalide dans une valeur échappée") from exc

    def _escape(self) -> bytes:
        nxt = self.text[self.pos + 1 : self.pos + 3]
        if len(nxt) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in nxt):
            self.pos += 3
            return bytes.fromhex(nxt)
        if nxt[:1] and (nxt[0] in _SPECIALS or nxt[0] in " #"):
            self.pos += 2
            return nxt[0].encode()
        raise DNParseError(f"Échappement invalide à la position {self.pos + 1}")


@functools.lru_cache(maxsize=4096)
def parse_dn(text: str) -> DN:
    """Parse an RFC 4514 (or RFC 2253 with ';') string into canonical RDNs, most specific first as written.

    Cached: a liste blanche repeats a few hundred operator DNs over thousands of entries (the result is an
    immutable tuple, so sharing it is safe)."""
    if not text or not text.strip():
        raise DNParseError("DN vide")
    reader = _Reader(text.strip())
    rdns: list[RDN] = []
    avas: list[AVA] = []
    while True:
        reader.skip_spaces()
        key = reader.attribute_type()
        raw = reader.value(key)
        avas.append(raw if isinstance(raw, tuple) else (key, fold_value(raw), False))
        reader.skip_spaces()
        sep = reader.peek()
        reader.pos += 1
        if sep == "+":
            continue
        rdns.append(tuple(sorted(avas)))
        avas = []
        if not sep:
            return tuple(rdns)
        if sep not in ",;":
            raise DNParseError(f"Séparateur inattendu « {sep} »")


def _escape_value(value: str, is_hex: bool) -> str:
    if is_hex:
        return "#" + value
    out = "".join("\\" + ch if ch in _SPECIALS else ch for ch in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def render_dn(dn: DN) -> str:
    """The canonical string of a parsed DN: parse_dn(render_dn(x)) == x."""
    return ",".join(
        "+".join(f"{key}={_escape_value(value, is_hex)}" for key, value, is_hex in rdn) for rdn in dn
    )


@functools.lru_cache(maxsize=4096)
def normalise_dn(text: str) -> str:
    """Canonical form of a DN string, stored next to the raw DN and compared for equality."""
    return render_dn(parse_dn(text))


def reversed_dn(normalised: str) -> str:
    """The same canonical DN with its RDNs in the opposite order (ASN.1 order vs RFC 4514 order)."""
    return render_dn(tuple(reversed(parse_dn(normalised))))


def dn_equal(a: str, b: str) -> bool:
    """True when two DN strings name the same subject (attribute by attribute; either RDN order)."""
    try:
        left, right = parse_dn(a), parse_dn(b)
    except DNParseError:
        return False
    return left == right or left == tuple(reversed(right))


def dn_from_x509_name(name: x509.Name) -> str:
    """Canonical DN of a certificate subject, in RFC 4514 order (the order the liste blanche uses)."""
    rdns: list[RDN] = []
    for rdn in reversed(list(name.rdns)):
        avas: list[AVA] = []
        for attribute in rdn:
            key = attribute_key(attribute.oid.dotted_string)
            value = attribute.value
            if isinstance(value, bytes):
                avas.append((key, value.hex(), True))
            else:
                avas.append((key, fold_value(value), False))
        rdns.append(tuple(sorted(avas)))
    return render_dn(tuple(rdns))
