"""Our BALs in the shape of the Annuaire Santé publication: FHIR Patch `Parameters` (docs/mssante.md §3).

One Bundle of type `transaction`; each entry is a conditional PATCH of the Practitioner (PER, CAB: by
`urn:oid:1.2.250.1.71.4.2.1|<idnat>`) or Organization (ORG, APP: by FINESS, else SIRET, else the national
structure id) carrying a `Parameters` resource with one FHIRPath Patch operation on
`telecom.where(value='<address>')`. A liste rouge BAL is never published, so it is never exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.mailboxes.models import Mailbox, MailboxKind

PRACTITIONER_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
STRUCTURE_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
SIRET_SYSTEM = "https://sirene.fr"
EMAIL_TYPE_URL = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type"
EMAIL_TYPE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie"
METADATA_URL = (
    "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata"
)
BAL_TYPE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL"
OPERATIONS = ("insert", "replace", "delete")


def patch_targets(mailbox: Mailbox) -> list[str]:
    """The conditional PATCH URLs of the directory entries that carry this BAL (several for a cabinet)."""
    if mailbox.kind == MailboxKind.NOMINATIVE:
        return [f"Practitioner?identifier={PRACTITIONER_SYSTEM}|{mailbox.national_id}"]
    if mailbox.is_cabinet:
        ids = sorted(one.national_id for one in mailbox.practitioners.all())
        return [f"Practitioner?identifier={PRACTITIONER_SYSTEM}|{idnat}" for idnat in ids]
    structure = mailbox.structure
    if structure is None:
        return []
    if structure.finess:
        return [f"Organization?identifier={FINESS_SYSTEM}|{structure.finess}"]
    if structure.siret:
        return [f"Organization?identifier={SIRET_SYSTEM}|{structure.siret}"]
    return [f"Organization?identifier={STRUCTURE_SYSTEM}|{structure.idnat}"]


def contact_point(mailbox: Mailbox) -> dict[str, Any]:
    metadata: list[dict[str, Any]] = [
        {
            "url": "type",
            "valueCodeableConcept": {"coding": [{"system": BAL_TYPE_SYSTEM, "code": mailbox.annuaire_kind}]},
        },
        {"url": "listeRouge", "valueBoolean": mailbox.liste_rouge},
    ]
    if mailbox.display_name:
        metadata.append({"url": "description", "valueString": mailbox.display_name})
    if mailbox.service:
        metadata.append({"url": "service", "valueString": mailbox.service})
    if mailbox.responsible is not None:
        metadata.append({"url": "responsible", "valueString": mailbox.responsible.get_full_name()})
    return {
        "system": "email",
        "value": mailbox.address,
        "extension": [
            {"url": EMAIL_TYPE_URL, "valueCoding": {"system": EMAIL_TYPE_SYSTEM, "code": "MSSANTE"}},
            {"url": METADATA_URL, "extension": metadata},
        ],
    }


def patch_parameters(mailbox: Mailbox, resource_type: str, operation: str = "insert") -> dict[str, Any]:
    """The FHIR Patch `Parameters` for one BAL on one resource type (Practitioner or Organization)."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown FHIR Patch operation {operation!r}")
    where = f"{resource_type}.telecom.where(value='{mailbox.address}')"
    if operation == "insert":
        parts = [
            {"name": "type", "valueCode": "insert"},
            {"name": "path", "valueString": f"{resource_type}.telecom"},
            {"name": "index", "valueInteger": 0},
            {"name": "value", "valueContactPoint": contact_point(mailbox)},
        ]
    elif operation == "replace":
        parts = [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": where},
            {"name": "value", "valueContactPoint": contact_point(mailbox)},
        ]
    else:
        parts = [{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": where}]
    return {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]}


def export_fhir_patch_parameters(mailboxes: Iterable[Mailbox], operation: str = "insert") -> dict[str, Any]:
    """A transaction Bundle, one conditional PATCH per (BAL, directory entry); liste rouge BALs skipped."""
    entries = []
    for mailbox in mailboxes:
        if mailbox.liste_rouge and operation != "delete":
            continue
        for url in patch_targets(mailbox):
            resource_type = url.split("?", 1)[0]
            entries.append(
                {
                    "request": {"method": "PATCH", "url": url},
                    "resource": patch_parameters(mailbox, resource_type, operation),
                }
            )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
