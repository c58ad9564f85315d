"""The vocabulary of delivery reports: outcomes, enhanced status codes explained in French, dispositions,
and the parsed `Report` the messaging app applies to the sender's timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


class Outcome(StrEnum):
    """What a report entry means for the sender's timeline (values can be stored as they are)."""

    DELIVERED = "delivered"
    RELAYED = "relayed"  # handed to a system that sends no DSN: delivered as far as we can know
    DELAYED = "delayed"
    FAILED = "failed"
    DISPLAYED = "displayed"  # read
    DELETED = "deleted"  # deleted unread
    DISPATCHED = "dispatched"
    PROCESSED = "processed"  # integrated by software (CDA-courriel IG)
    PROCESSING_ERROR = "processing-error"


# ----------------------------------------------------------------------------------------- status codes

_SPECIFIC = {
    "1.1": "L'adresse du destinataire n'existe pas chez son opérateur (boîte aux lettres inconnue).",
    "1.2": "Le domaine de l'adresse du destinataire est inconnu ou ne reçoit pas de messages.",
    "1.3": "L'adresse du destinataire est mal formée.",
    "1.6": "Le destinataire a changé d'adresse et ne reçoit plus de messages à celle-ci.",
    "1.10": "Le domaine du destinataire n'accepte aucun message.",
    "2.1": "La boîte aux lettres du destinataire est fermée ou suspendue.",
    "2.2": "La boîte aux lettres du destinataire est pleine.",
    "2.3": "Le message dépasse la taille acceptée par la boîte aux lettres du destinataire.",
    "3.2": "Le système de messagerie du destinataire n'accepte pas de messages pour le moment.",
    "3.4": "Le message est trop volumineux pour le système de messagerie du destinataire.",
    "4.1": "Le serveur de messagerie du destinataire ne répond pas.",
    "4.2": "La connexion avec le serveur de messagerie du destinataire a été interrompue.",
    "4.4": "Aucun chemin n'a été trouvé vers le domaine du destinataire.",
    "4.6": "Le message tournait en boucle entre des serveurs de messagerie.",
    "4.7": "Le message n'a pas pu être remis dans le délai imparti.",
    "6.0": "Le contenu du message n'est pas accepté par le système du destinataire.",
    "7.1": "L'opérateur du destinataire a refusé le message : l'expéditeur n'est pas autorisé à écrire à "
    "ce destinataire.",
    "7.5": "Le destinataire n'a pas pu déchiffrer ou vérifier le message (échec cryptographique).",
    "7.7": "Le destinataire n'a pas pu vérifier l'intégrité du message.",
}
_BY_SUBJECT = {
    "0": "Le message n'a pas pu être remis.",
    "1": "L'adresse du destinataire pose problème.",
    "2": "La boîte aux lettres du destinataire ne peut pas recevoir ce message.",
    "3": "Le système de messagerie du destinataire ne peut pas recevoir ce message.",
    "4": "L'acheminement vers le destinataire a échoué.",
    "5": "L'échange avec le serveur de messagerie du destinataire a échoué.",
    "6": "Le contenu du message n'a pas pu être traité par le système du destinataire.",
    "7": "L'opérateur du destinataire a refusé le message pour une raison de sécurité ou de politique.",
}


def parse_status(text: str | None) -> str | None:
    """The first enhanced status code (`5.1.1`) found in `text`."""
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else None


def describe_status(status: str | None) -> str:
    """A clear French reason for an enhanced status code (RFC 3463), for bounces and the timeline."""
    code = parse_status(status)
    if code is None:
        return "Le message n'a pas pu être remis (cause non précisée par le serveur distant)."
    klass, subject, detail = code.split(".")
    if klass == "2":
        return "Le message a été remis."
    reason = _SPECIFIC.get(f"{subject}.{detail}") or _BY_SUBJECT.get(subject, _BY_SUBJECT["0"])
    if klass == "4":
        return f"{reason} Échec temporaire : de nouveaux essais sont faits automatiquement."
    return reason


@dataclass(frozen=True)
class Disposition:
    """The Disposition field of an MDN (RFC 8098 §3.2.6)."""

    type: str = "displayed"  # displayed | deleted | dispatched | processed
    automatic: bool = False
    modifier: str | None = None  # "error" for a processing error

    def __str__(self) -> str:
        mode = (
            "automatic-action/MDN-sent-automatically" if self.automatic else "manual-action/MDN-sent-manually"
        )
        return f"{mode}; {self.type}" + (f"/{self.modifier}" if self.modifier else "")

    @classmethod
    def parse(cls, value: str) -> Disposition:
        modes, _, rest = value.partition(";")
        kind, _, raw_modifier = rest.strip().partition("/")
        # Older CDA-courriel MDNs wrote "processed/Error: 902^…": keep only the modifier word.
        modifier = re.split(r"[\s:]", raw_modifier.strip(), maxsplit=1)[0].lower() or None
        return cls(kind.strip().lower(), "automatic-action" in modes.lower(), modifier)


DISPLAYED = Disposition("displayed")
PROCESSED = Disposition("processed", automatic=True)
PROCESSING_ERROR = Disposition("processed", automatic=True, modifier="error")


@dataclass(frozen=True)
class ReportEntry:
    """One recipient's fate in a DSN, or the disposition carried by an MDN."""

    final_recipient: str | None
    original_recipient: str | None = None
    action: str | None = None  # DSN
    status: str | None = None  # DSN, x.y.z
    diagnostic: str | None = None  # DSN Diagnostic-Code, or MDN Error
    remote_mta: str | None = None
    disposition: Disposition | None = None  # MDN

    @property
    def outcome(self) -> Outcome:
        if self.disposition is not None:
            if self.disposition.modifier == "error":
                return Outcome.PROCESSING_ERROR
            kind = self.disposition.type
            return Outcome(kind) if kind in _MDN_OUTCOMES else Outcome.DISPLAYED
        return {
            "delivered": Outcome.DELIVERED,
            "relayed": Outcome.RELAYED,
            "expanded": Outcome.DELIVERED,
            "delayed": Outcome.DELAYED,
        }.get(self.action or "", Outcome.FAILED)

    @property
    def reason(self) -> str:
        """French explanation for the sender's timeline."""
        if self.disposition is not None:
            return _MDN_REASONS.get(self.outcome, "Accusé de réception reçu.")
        return describe_status(self.status)


_MDN_OUTCOMES = {Outcome.DISPLAYED, Outcome.DELETED, Outcome.DISPATCHED, Outcome.PROCESSED}
_MDN_REASONS = {
    Outcome.DISPLAYED: "Message lu par le destinataire.",
    Outcome.DELETED: "Message supprimé par le destinataire sans avoir été lu.",
    Outcome.DISPATCHED: "Message transmis par le destinataire sans avoir été affiché.",
    Outcome.PROCESSED: "Message traité par le logiciel du destinataire.",
    Outcome.PROCESSING_ERROR: "Le logiciel du destinataire n'a pas pu intégrer le message.",
}


@dataclass(frozen=True)
class Report:
    kind: str  # "dsn" | "mdn"
    entries: tuple[ReportEntry, ...]
    original_message_id: str | None = None
    original_envelope_id: str | None = None  # the ENVID we gave at MAIL FROM
    reporting_agent: str | None = None  # Reporting-MTA or Reporting-UA
    arrival_date: str | None = None
    standard: bool = True  # False: guessed from a plain-text bounce
    original_subject: str | None = field(default=None)
