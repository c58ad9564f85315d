"""Every journal event type, with the plain French sentence the journal pages show for it.

This registry is the one list: a test reads the source for every event type the code can emit and fails on
one missing here (tests/deadends/test_journal_sentences.py). Sentences name the person and the BAL from the
event's labels; they never show message content (a journal reader is not a reader of the BAL's mail).

Placeholders: {actor} (the person, or « Le système »), {bal} (the BAL's address, or « une BAL ») and
{in_bal} (« dans la BAL … », or nothing).
"""

from __future__ import annotations

from typing import Any

EVENT_TYPES: dict[str, str] = {
    # Accounts, login, second factor
    "auth.login": "{actor} s'est connecté(e).",
    "auth.login_failed": "Échec de connexion pour {actor} (mot de passe ou identifiant erroné).",
    "auth.lockout": "Le compte {actor} a été bloqué temporairement après plusieurs échecs de connexion.",
    "auth.logout": "{actor} s'est déconnecté(e).",
    "auth.logout_everywhere": "{actor} s'est déconnecté(e) de tous ses appareils.",
    "auth.mfa_failed": "{actor} a saisi un second facteur erroné.",
    "auth.password_changed": "{actor} a changé son mot de passe.",
    "auth.psc_login": "{actor} s'est connecté(e) avec Pro Santé Connect.",
    "auth.psc_refused": "Une connexion Pro Santé Connect a été refusée ({actor}).",
    "mfa.authenticator_added": "{actor} a ajouté un second facteur.",
    "mfa.authenticator_removed": "{actor} a retiré un second facteur.",
    "mfa.enrolment_completed": "{actor} a terminé la sécurisation de son compte.",
    "mfa.recovery_code_used": "{actor} s'est connecté(e) avec un code de secours.",
    "mfa.recovery_codes_generated": "Des codes de secours ont été créés pour {actor}.",
    "mfa.recovery_codes_regenerated": "{actor} a régénéré ses codes de secours.",
    "account.app_password_created": "{actor} a créé un mot de passe d'application (logiciel de messagerie).",
    "account.app_password_revoked": "{actor} a révoqué un mot de passe d'application.",
    "account.read_receipt_policy_changed": "{actor} a modifié ses préférences d'accusés de lecture.",
    "account.signature_changed": "{actor} a modifié sa signature de messages.",
    "account.invitation_sent": "{actor} a invité une personne sans compte {in_bal}.",
    "account.invitation_resent": "{actor} a renvoyé une invitation {in_bal}.",
    "account.invitation_revoked": "{actor} a révoqué une invitation {in_bal}.",
    "account.invitation_accepted": "{actor} a accepté son invitation et rejoint la BAL {bal}.",
    # IMAP (ADR 0023)
    "imap.login": "{actor} s'est connecté(e) en IMAP (logiciel de messagerie).",
    "imap.login_refused": "Une connexion IMAP a été refusée ({actor}).",
    "imap.message_consulted": "{actor} a consulté des messages en IMAP {in_bal}.",
    "imap.draft_appended": "{actor} a déposé un brouillon en IMAP {in_bal}.",
    "message.copied": "{actor} a copié un message dans un dossier {in_bal}.",
    # Backups (ADR 0017)
    "backup.pruned": "Les sauvegardes les plus anciennes ont été supprimées ({actor}).",
    "backup.restore": "Une sauvegarde a été restaurée dans cette base ({actor}).",
    # Read receipts to senders at other operators
    "message.read_receipt_sent": "Un accusé de lecture est parti vers un autre opérateur {in_bal}.",
    "message.read_receipt_withheld": "Un accusé de lecture demandé n'a pas été envoyé {in_bal}.",
    # Certificates and revocation (ADR 0018)
    "trust.crl_refresh": "Une liste de révocation de certificats a été relevée ({actor}).",
    "trust.crl_stale": "Une liste de révocation a dépassé sa date de mise à jour : vérification dégradée.",
    "trust.own_certificate_expiring": "Un certificat de la plateforme arrive bientôt à expiration.",
    # Annuaire
    "annuaire.searched": "{actor} a fait une recherche dans l'annuaire.",
    "annuaire.imported": "L'annuaire santé a été importé ({actor}).",
    "annuaire.import_refused": "Un import de l'annuaire santé a été refusé ({actor}).",
    "annuaire.bal_published": "La BAL {bal} a été publiée dans l'annuaire ({actor}).",
    "annuaire.bal_unpublished": "La BAL {bal} a été retirée de l'annuaire ({actor}).",
    "annuaire.professional_registered": "{actor} a enregistré un professionnel.",
    # Journal, keys
    "audit.searched": "{actor} a consulté le journal.",
    "audit.exported": "{actor} a exporté le journal (CSV).",
    "audit.purged": "Les événements anciens du journal ont été purgés ({actor}).",
    "crypto.master_key_rotated": "La clé maîtresse de chiffrement a été renouvelée ({actor}).",
    # BALs
    "mailbox.created": "{actor} a créé la BAL {bal}.",
    "mailbox.updated": "{actor} a modifié la BAL {bal}.",
    "mailbox.deleted": "{actor} a supprimé la BAL {bal}.",
    "mailbox.opened": "{actor} a ouvert la BAL {bal}.",
    "mailbox.suspended": "{actor} a suspendu la BAL {bal}.",
    "mailbox.reactivated": "{actor} a réactivé la BAL {bal}.",
    "mailbox.bulk_imported": "{actor} a créé des BAL par import d'un fichier.",
    "mailbox.credential_created": "{actor} a créé un identifiant logiciel pour la BAL {bal}.",
    "mailbox.credential_revoked": "{actor} a révoqué un identifiant logiciel de la BAL {bal}.",
    "mailbox.delegate_added": "{actor} a ajouté un délégué à la validation {in_bal}.",
    "mailbox.delegate_removed": "{actor} a retiré un délégué à la validation {in_bal}.",
    "mailbox.member_added": "{actor} a ajouté un membre à la BAL {bal}.",
    "mailbox.member_removed": "{actor} a retiré un membre de la BAL {bal}.",
    "mailbox.member_role_changed": "{actor} a changé les droits d'un membre de la BAL {bal}.",
    "mailbox.responsibility_transferred": "{actor} a transféré la responsabilité de la BAL {bal}.",
    "mailbox.structure_admin_added": "{actor} a nommé un administrateur de structure.",
    "mailbox.structure_admin_removed": "{actor} a retiré un administrateur de structure.",
    "mailbox.structure_imap_changed": "{actor} a ouvert ou fermé l'accès IMAP des BAL d'une structure.",
    "mailbox.quota_changed": "{actor} a modifié le quota de la BAL {bal}.",
    "mailbox.quota_warning": "La BAL {bal} approche de son quota ; ses gestionnaires ont été prévenus.",
    "mailbox.liste_rouge_changed": "{actor} a modifié l'inscription en liste rouge de la BAL {bal}.",
    "mailbox.fhir_exported": "{actor} a exporté la BAL {bal} au format FHIR.",
    "mailbox.indicators_computed": "Les indicateurs d'activité des BAL ont été calculés ({actor}).",
    "mailbox.lifecycle_notice_issued": "Un avis d'inactivité a été préparé pour la BAL {bal}.",
    "mailbox.lifecycle_notice_sent": "Un avis d'inactivité a été envoyé pour la BAL {bal}.",
    "mailbox.lifecycle_notice_undeliverable": "L'avis d'inactivité de la BAL {bal} n'a pas pu être remis.",
    "mailbox.lifecycle_notice_closed": "L'avis d'inactivité de la BAL {bal} est clos.",
    "mailbox.lifecycle_opposed": "{actor} s'est opposé(e) à la suppression de la BAL inactive {bal}.",
    "mailbox.lifecycle_deleted": "La BAL inactive {bal} a été supprimée à l'issue du délai.",
    # Messages and drafts
    "message.submitted": "{actor} a envoyé un message {in_bal}.",
    "message.received": "Un message est arrivé d'un autre opérateur ({actor}).",
    "message.delivered": "Un message a été remis {in_bal}.",
    "message.delivery_failed": "La remise d'un message a échoué {in_bal}.",
    "message.bounced": "Un message envoyé {in_bal} a été refusé par son destinataire (avis de non-remise).",
    "message.read": "{actor} a consulté un message {in_bal}.",
    "message.moved": "{actor} a déplacé un message {in_bal}.",
    "message.trashed": "{actor} a mis un message à la corbeille {in_bal}.",
    "message.restored": "{actor} a restauré un message de la corbeille {in_bal}.",
    "message.deleted": "{actor} a supprimé définitivement des messages {in_bal}.",
    "message.trash_emptied": "{actor} a vidé la corbeille {in_bal}.",
    "message.flagged": "{actor} a marqué un message comme suivi {in_bal}.",
    "message.unflagged": "{actor} a retiré le suivi d'un message {in_bal}.",
    "message.assigned": "{actor} a attribué un message {in_bal}.",
    "message.queue_status": "{actor} a changé l'état de traitement d'un message {in_bal}.",
    "message.note_added": "{actor} a ajouté une note interne à un message {in_bal}.",
    "message.validated": "{actor} a validé un message soumis par logiciel {in_bal}.",
    "message.rejected": "{actor} a refusé un message soumis par logiciel {in_bal}.",
    "message.orphans_purged": "Les contenus de messages qui n'étaient plus dans aucune BAL ont été effacés.",
    "draft.created": "{actor} a commencé un brouillon {in_bal}.",
    "draft.deleted": "{actor} a supprimé un brouillon {in_bal}.",
    "draft.attachment_added": "{actor} a joint un fichier à un brouillon {in_bal}.",
    "draft.attachment_removed": "{actor} a retiré un fichier d'un brouillon {in_bal}.",
    "folder.created": "{actor} a créé un dossier {in_bal}.",
    "folder.renamed": "{actor} a renommé un dossier {in_bal}.",
    "folder.deleted": "{actor} a supprimé un dossier {in_bal}.",
    # Applicative API, gateway
    "api.message_submitted": "Le logiciel de la BAL {bal} a déposé un message par l'API.",
    "api.message_processed": "Un message déposé par l'API dans la BAL {bal} a été traité.",
    "gateway.message_received": "La passerelle a reçu un message d'un autre opérateur ({actor}).",
    "gateway.ingest_failed": "La passerelle n'a pas pu traiter un message reçu ; il reste en file d'attente.",
    "gateway.ingest_requeued": "Un message reçu par la passerelle a été remis en traitement ({actor}).",
    # Patients
    "patient.profile_opened": "{actor} a ouvert l'espace patient de {bal}.",
    "patient.profile_activated": "L'espace patient {bal} a été activé.",
    "patient.profile_closed": "{actor} a fermé l'espace patient {bal}.",
    "patient.notice_sent": "Le patient de {bal} a été avisé d'un nouveau message (sans donnée médicale).",
    "patient.notifications_changed": "{actor} a modifié ses préférences de notification.",
    "patient.document_saved": "{actor} a enregistré un document dans son espace.",
    "patient.document_deleted": "{actor} a supprimé un document de son espace.",
    # Liste blanche
    "trust.liste_blanche_imported": "La liste blanche des domaines de confiance a été importée ({actor}).",
    "trust.refresh_requested": "{actor} a demandé la mise à jour de la liste blanche.",
    "trust.refresh_rejected": "Une mise à jour de la liste blanche a été refusée (liste incomplète).",
}

SYSTEM = "Le système"


def sentence_for(action: str, *, actor_label: str = "", mailbox_label: str = "") -> str:
    """The French sentence of one event; an unknown type (an old event) falls back to its code."""
    template = EVENT_TYPES.get(action)
    if template is None:
        return f"Événement « {action} »"
    values: dict[str, Any] = {
        "actor": actor_label or SYSTEM,
        "bal": mailbox_label or "une BAL",
        "in_bal": f"dans la BAL {mailbox_label}" if mailbox_label else "",
    }
    text = template.format(**values)
    return " ".join(text.replace(" .", ".").split())


def label_for(action: str) -> str:
    """The sentence of an event type with « … » for the person and the BAL (the journal filter's choices)."""
    return sentence_for(action, actor_label="…", mailbox_label="…").removesuffix(".")
