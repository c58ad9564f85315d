"""SMTP replies of the gateway: one place for every code, enhanced status code (RFC 3463) and text.

The text says why in French, for the professional who will read it in the sending operator's bounce. SMTP
replies are ASCII (RFC 5321 §4.2; UTF-8 only under SMTPUTF8, which peers may not have negotiated), so
accents are folded: "boîte" becomes "boite". Texts never contain message content.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_PUNCTUATION = str.maketrans({"’": "'", "\u00a0": " ", "\u202f": " ", "–": "-", "—": "-"})
_GUILLEMETS = re.compile(r"«\s*|\s*»")


def ascii_text(text: str) -> str:
    """French text as printable ASCII on one line: accents dropped, quotes kept, control characters out."""
    folded = unicodedata.normalize("NFKD", _GUILLEMETS.sub('"', text).translate(_PUNCTUATION))
    plain = folded.encode("ascii", "ignore").decode("ascii")
    return " ".join("".join(ch if ch.isprintable() else " " for ch in plain).split())


@dataclass(frozen=True)
class Reply:
    code: int
    enhanced: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {ascii_text(self.text)}"

    @property
    def permanent(self) -> bool:
        return self.code >= 500


def reply(code: int, enhanced: str, text: str) -> str:
    return str(Reply(code, enhanced, text))


# Temporary: the sending operator keeps the message and retries (RFC 5321 §4.5.4.1).
TEMPORARY_FAILURE = Reply(
    451, "4.3.0", "Erreur temporaire de la plateforme, le message n'est pas accepte : reessayez plus tard."
)
# Submission (mail clients): an outage of ours during AUTH is not a wrong password (RFC 4954 §6).
TEMPORARY_AUTH_FAILURE = Reply(
    454, "4.7.0", "Verification de l'identifiant temporairement impossible : reessayez plus tard."
)
NO_CLIENT_CERTIFICATE = Reply(
    530,
    "5.7.0",
    "Certificat client requis : les operateurs MSSante s'authentifient par TLS mutuel (IGC-Sante).",
)
TLS_REQUIRED = Reply(530, "5.7.0", "Commencez par STARTTLS : TLS est obligatoire entre operateurs MSSante.")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Trop de destinataires pour ce message : envoyez la suite a part.")
MESSAGE_TOO_BIG = Reply(
    552,
    "5.3.4",
    "Message trop volumineux : la taille maximale acceptee par cet operateur est de {limit} octets.",
)
ACCEPTED = "250 2.0.0 Message accepte et enregistre (id {spool_id})"
BAD_SENDER_SYNTAX = Reply(501, "5.1.7", "Adresse d'expediteur invalide : {reason}")
BAD_RECIPIENT_SYNTAX = Reply(501, "5.1.3", "Adresse de destinataire invalide : {reason}")


def too_big(limit: int) -> str:
    return reply(MESSAGE_TOO_BIG.code, MESSAGE_TOO_BIG.enhanced, MESSAGE_TOO_BIG.text.format(limit=limit))
