"""French labels of the journal actions shown to a BAL's responsible professional and managers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from apps.audit.event_types import sentence_for
from apps.mailboxes.models import Mailbox, MemberRole

ACTION_LABELS = {
    "mailbox.created": "Création de la BAL",
    "mailbox.updated": "Modification de la BAL",
    "mailbox.suspended": "Suspension de la BAL",
    "mailbox.reactivated": "Réactivation de la BAL",
    "mailbox.deleted": "Suppression de la BAL",
    "mailbox.opened": "Ouverture de la BAL",
    "mailbox.liste_rouge_changed": "Changement de liste rouge",
    "mailbox.responsibility_transferred": "Transfert de responsabilité",
    "mailbox.member_added": "Ajout d'un membre",
    "mailbox.member_removed": "Retrait d'un membre",
    "mailbox.member_role_changed": "Changement de rôle d'un membre",
    "mailbox.credential_created": "Création d'un identifiant logiciel",
    "mailbox.credential_revoked": "Révocation d'un identifiant logiciel",
}


# Labels of change fields that are not Mailbox fields (memberships), or whose verbose name is still the
# English default (the links; renaming them in the model would only add a migration), with their choices.
OTHER_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "role": ("rôle", dict(MemberRole.choices)),
    "owner": ("titulaire", {}),
    "professional": ("professionnel de l'annuaire", {}),
    "responsible": ("responsable", {}),
    "created_by": ("créée par", {}),
}


def action_label(action: str, *, actor_label: str = "") -> str:
    """The short label of a BAL action; any other event (a message read, delivered...) as its journal
    sentence, never its code."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    return sentence_for(action, actor_label=actor_label)


def _value(value: Any, choices: dict[str, str], field: models.Field | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(field, models.ForeignKey):
        return "renseigné"  # a row id means nothing to a reader
    return choices.get(str(value), str(value))


def change_lines(details: dict[str, Any]) -> list[str]:
    """The `changes` of an event as French lines: « libellé : ancien → nouveau »."""
    lines = []
    for name, change in (details.get("changes") or {}).items():
        field: models.Field | None
        try:
            field = Mailbox._meta.get_field(name)  # type: ignore[assignment]
        except FieldDoesNotExist:
            field = None
        if name in OTHER_FIELDS:
            label, choices = OTHER_FIELDS[name]
        elif field is not None:
            label, choices = str(field.verbose_name), {str(k): str(v) for k, v in field.choices or []}
        else:
            label, choices = name.replace("_", " "), {}
        old, new = (_value(change.get(key), choices, field) for key in ("old", "new"))
        if old == new:  # e.g. an empty field at creation: None → ""
            continue
        lines.append(f"{label} : {old} → {new}")
    return lines
