"""Streaming reader of the ANS liste blanche XML (pure, no Django models).

Why pyexpat directly rather than defusedxml: the file is fed in 64 KiB chunks (constant memory whatever its
size) and the guards defusedxml would add are three handlers here: any DOCTYPE, entity declaration or external
entity aborts the parse, so no entity expansion ("billion laughs") or external fetch can happen.

The published file has no closing </ListeBlancheMSSante> tag (checked on ANS's mirror, March 2025): it ends
right after </ListeDomaines>. We accept exactly that case (the list of domains is complete, nothing can follow
it in the schema) and record a note; any other premature end is a truncation and is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pyexpat import ExpatError, ParserCreate, errors
from typing import NoReturn

from apps.trust.dn import DNParseError, normalise_dn
from apps.trust.names import InvalidDomainName, normalise_domain

NAMESPACE = "https://listeblanche.mssante.fr/schema"
ROOT = "ListeBlancheMSSante"
_DOMAIN_FIELDS = {
    "Nom",
    "Description",
    "DNCertificatOperateur",
    "ResponsableContact",
    "SupportContact",
    "DateMAJ",
}
_MAX_FIELD_CHARS = 4000
NOTE_ROOT_NOT_CLOSED = (
    "Balise racine </ListeBlancheMSSante> absente après </ListeDomaines> (format publié par l'ANS)."
)


class ListeBlancheFormatError(ValueError):
    """The file is not a complete, valid liste blanche; the message is French and names the problem."""


@dataclass
class ParsedDomain:
    name: str  # ASCII form
    name_unicode: str
    description: str = ""
    responsable_contact: str = ""
    support_contact: str = ""
    date_maj: dt.datetime | None = None
    dns: dict[str, str] = field(default_factory=dict)  # normalised -> raw as first published
    dn_dates: dict[str, dt.datetime | None] = field(default_factory=dict)


@dataclass
class ParsedList:
    generated_at: dt.datetime | None = None
    domains: dict[str, ParsedDomain] = field(default_factory=dict)
    entry_count: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def dn_count(self) -> int:
        return sum(len(domain.dns) for domain in self.domains.values())


def parse_iso_datetime(text: str) -> dt.datetime | None:
    """ISO 8601 as ANS writes it (2025-03-13T14:54:10Z); None when absent or unreadable."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class _Handler:
    """Expat callbacks: keeps the element path and the fields of the Domaine being read."""

    def __init__(self) -> None:
        self.result = ParsedList()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.entry: dict[str, str] = {}
        self.list_closed = False

    def start(self, name: str, _attrs: dict) -> None:
        namespace, _, local = name.rpartition("}")
        if not self.stack and (local != ROOT or namespace != NAMESPACE):
            raise ListeBlancheFormatError(
                f"Élément racine inattendu « {local} » (espace de noms « {namespace or 'aucun'} ») : "
                f"« {ROOT} » dans « {NAMESPACE} » attendu."
            )
        if self.stack[-1:] == ["Domaine"]:
            self.text = []
        elif local == "Domaine" and self.stack == [ROOT, "ListeDomaines"]:
            self.entry = {}
        elif local == "DateDeGeneration":
            self.text = []
        self.stack.append(local)

    def data(self, chunk: str) -> None:
        if len(self.stack) >= 2 and (self.stack[-2] == "Domaine" or self.stack[-1] == "DateDeGeneration"):
            self.text.append(chunk)

    def end(self, name: str) -> None:
        local = self.stack.pop()
        if self.stack[-1:] == ["Domaine"] and local in _DOMAIN_FIELDS:
            self.entry[local] = "".join(self.text).strip()[:_MAX_FIELD_CHARS]
        elif local == "Domaine" and self.stack == [ROOT, "ListeDomaines"]:
            self._add_entry(self.entry)
        elif local == "DateDeGeneration" and self.stack == [ROOT]:
            self.result.generated_at = parse_iso_datetime("".join(self.text))
        elif local == "ListeDomaines" and self.stack == [ROOT]:
            self.list_closed = True

    def _add_entry(self, entry: dict[str, str]) -> None:
        self.result.entry_count += 1
        number = self.result.entry_count
        try:
            domain_name = normalise_domain(entry.get("Nom", ""))
        except InvalidDomainName as exc:
            raise ListeBlancheFormatError(f"Entrée n° {number} : {exc}") from exc
        raw_dn = entry.get("DNCertificatOperateur", "")
        try:
            normalised = normalise_dn(raw_dn)
        except DNParseError as exc:
            raise ListeBlancheFormatError(
                f"Entrée n° {number} ({domain_name.unicode}) : DN de certificat opérateur illisible "
                f"« {raw_dn} » ({exc})."
            ) from exc
        _merge(self.result.domains, domain_name.ascii, domain_name.unicode, entry, raw_dn, normalised)


def _merge(
    domains: dict[str, ParsedDomain], name: str, unicode: str, entry: dict, raw_dn: str, norm: str
) -> None:
    """A domain listed several times (one entry per operator DN) becomes one domain with several DNs; its
    description and contacts come from its most recently updated entry."""
    date_maj = parse_iso_datetime(entry.get("DateMAJ", ""))
    domain = domains.get(name)
    if domain is None:
        domain = domains[name] = ParsedDomain(name=name, name_unicode=unicode)
    newest = domain.date_maj is None or (date_maj is not None and date_maj > domain.date_maj)
    if not domain.dns or newest:
        domain.description = entry.get("Description", "")[:500]
        domain.responsable_contact = entry.get("ResponsableContact", "")[:500]
        domain.support_contact = entry.get("SupportContact", "")[:500]
        domain.date_maj = date_maj if newest else domain.date_maj
    domain.dns.setdefault(norm, raw_dn)
    previous = domain.dn_dates.get(norm)
    if previous is None or (date_maj is not None and date_maj > previous):
        domain.dn_dates[norm] = date_maj


def _forbid(*_args: object) -> NoReturn:
    raise ListeBlancheFormatError("Déclaration DTD ou entité interdite dans la liste blanche.")


def parse_liste_blanche(chunks: Iterable[bytes]) -> ParsedList:
    """Parse the XML fed as byte chunks; raises ListeBlancheFormatError (French message) on any defect."""
    handler = _Handler()
    parser = ParserCreate(namespace_separator="}")
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.data
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except ExpatError as exc:
        premature_end = exc.code == errors.codes[errors.XML_ERROR_NO_ELEMENTS]
        if not (premature_end and handler.list_closed and handler.stack == [ROOT]):
            raise ListeBlancheFormatError(
                f"Fichier XML tronqué ou mal formé (ligne {exc.lineno}, colonne {exc.offset}) : "
                f"{errors.messages[exc.code]}."
            ) from exc
        handler.result.notes.append(NOTE_ROOT_NOT_CLOSED)
    if not handler.list_closed:
        raise ListeBlancheFormatError(
            "Élément « ListeDomaines » absent : le fichier ne contient aucune liste."
        )
    if not handler.result.domains:
        raise ListeBlancheFormatError("La liste blanche ne contient aucun domaine.")
    return handler.result
