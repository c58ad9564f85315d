"""Bulk creation of BALs from a CSV file, with a report of the lines created and rejected (and why).

Columns (header line required, `;` or `,` separated, UTF-8, optional BOM; names are case-insensitive):
  type            nominative | organisationnelle | cabinet | applicative (or PER, ORG, CAB, APP)
  adresse         the full address, e.g. secretariat.cardio@demo.mssante.fr
  titulaire       nominative: e-mail or national id of the holder's account
  structure       organisational / applicative: FINESS (9 characters) or SIRET (14 digits)
  responsable     organisational / applicative: e-mail or national id of the responsible professional
  accord          organisational: name of the structure's head who agreed
  praticiens      cabinet: national ids (8+RPPS / 0+ADELI) of the practice, separated by spaces
  nom, service    optional display name and service
  officine, liste_rouge   optional: oui / non
Each line is created in its own savepoint: valid lines are created even when others are rejected.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import User
from apps.annuaire.models import Professional, Structure
from apps.annuaire.selectors import get_structure_by_finess, get_structure_by_siret
from apps.audit.services import record_event
from apps.mailboxes.addresses import split_address
from apps.mailboxes.models import Mailbox
from apps.mailboxes.services import (
    Address,
    do_create_applicative_mailbox,
    do_create_nominative_mailbox,
    do_create_organisational_mailbox,
)

MAX_LINES = 5000
KINDS = {
    "nominative": "nominative", "per": "nominative", "organisationnelle": "organisational",
    "org": "organisational", "cabinet": "cabinet", "cab": "cabinet", "applicative": "applicative",
    "app": "applicative",
}  # fmt: skip
YES = {"oui", "o", "yes", "true", "1", "x"}


@dataclass
class BulkReport:
    created: list[tuple[int, str]] = field(default_factory=list)  # (line number, address)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, address, reason)
    secrets: dict[str, str] = field(default_factory=dict)  # applicative address -> token, shown once

    def as_details(self) -> dict[str, Any]:
        return {"created": len(self.created), "rejected": len(self.rejected)}


def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _user(value: str, label: str) -> User:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"La colonne « {label} » est vide.")
    lookup = {"email__iexact": value} if "@" in value else {"national_id": value.upper()}
    user = User.objects.filter(is_active=True, **lookup).first()
    if user is None:
        raise ValidationError(f"Aucun compte ne correspond à « {value} » (colonne « {label} »).")
    return user


def _structure(value: str) -> Structure:
    value = (value or "").strip().replace(" ", "")
    structure = get_structure_by_siret(value) if len(value) == 14 else get_structure_by_finess(value)
    if structure is None:
        raise ValidationError(f"Structure « {value} » introuvable dans l'annuaire (FINESS ou SIRET attendu).")
    return structure


def _practitioners(value: str) -> list[Professional]:
    ids = [one.upper() for one in (value or "").split() if one]
    found = list(Professional.objects.filter(national_id__in=ids, is_active=True))
    missing = sorted(set(ids) - {one.national_id for one in found})
    if missing:
        raise ValidationError(f"Professionnels inconnus de l'annuaire : {', '.join(missing)}.")
    return found


def _create_line(row: dict[str, str], acting_user: Any, report: BulkReport) -> Mailbox:
    kind = KINDS.get((row.get("type") or "").strip().lower())
    if kind is None:
        raise ValidationError(f"Type de BAL inconnu : « {row.get('type', '')} ».")
    local, domain = split_address(row.get("adresse", ""))
    address = Address(local, domain)
    common: dict[str, Any] = {
        "display_name": row.get("nom", ""),
        "liste_rouge": row.get("liste_rouge", "").lower() in YES,
    }
    if kind == "nominative":
        owner = _user(row.get("titulaire", ""), "titulaire")
        return do_create_nominative_mailbox(owner=owner, address=address, acting_user=acting_user, **common)
    responsible = _user(row.get("responsable", ""), "responsable")
    common["service"] = row.get("service", "")
    if kind == "applicative":
        mailbox, secret = do_create_applicative_mailbox(
            address=address, structure=_structure(row.get("structure", "")), responsible=responsible,
            acting_user=acting_user, **common,
        )  # fmt: skip
        report.secrets[mailbox.address] = secret
        return mailbox
    cabinet = kind == "cabinet"
    officine = row.get("officine", "").strip().lower()
    return do_create_organisational_mailbox(
        address=address, responsible=responsible, head_agreement_by=row.get("accord", ""),
        structure=None if cabinet else _structure(row.get("structure", "")), is_cabinet=cabinet,
        practitioners=_practitioners(row.get("praticiens", "")) if cabinet else None,
        is_officine=(officine in YES) if officine else None, acting_user=acting_user, **common,
    )  # fmt: skip


def _rows(text: str) -> csv.DictReader:
    sample = text[:2048]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    reader.fieldnames = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    return reader


def do_bulk_create_from_csv(data: bytes, *, acting_user: Any) -> BulkReport:
    """Create one BAL per line; a bad line is reported (line number, French reason) and the rest go on."""
    report = BulkReport()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.rejected.append((1, "", "Le fichier n'est pas encodé en UTF-8."))
        return report
    reader = _rows(text)
    if not {"type", "adresse"} <= set(reader.fieldnames or []):
        report.rejected.append(
            (1, "", "L'en-tête doit contenir au moins les colonnes « type » et « adresse ».")
        )
        return report
    for number, row in enumerate(reader, start=2):
        if number > MAX_LINES + 1:
            report.rejected.append(
                (number, "", f"Au-delà de {MAX_LINES} lignes : importez en plusieurs fois.")
            )
            break
        row = {key: (value or "").strip() for key, value in row.items() if key}
        try:
            with transaction.atomic():
                mailbox = _create_line(row, acting_user, report)
        except ValidationError as exc:
            report.rejected.append((number, row.get("adresse", ""), _messages(exc)))
        else:
            report.created.append((number, mailbox.address))
    with transaction.atomic():
        record_event(
            "mailbox.bulk_imported",
            actor=acting_user,
            target_type="mailboxes.import",
            details={**report.as_details(), "rejected_lines": [line for line, _a, _r in report.rejected]},
        )
    return report
