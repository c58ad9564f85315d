"""French labels of the journal actions shown to a BAL's responsible professional and managers."""

from __future__ import annotations

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


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)
