"""The MSS-C rules (docs/mssante.md §0 and §5), in one place, and the portal's access checks.

`check_patient_rules` is registered into messaging's recipient policies at start-up (PatientsConfig.ready),
so the webmail, the API, SMTP submission, inbound SMTP and the deposit task all apply it:
1. a message to a patient address: the address must carry a valid INS; when the patient domain is hosted
   here the profile must exist and not be closed (an open, not yet activated profile receives); the
   encoded size may not exceed 25 Mo. Any refusal is the professional's automatic return, in French.
2. a message from a patient: the profile must be activated; never to another patient; to an
   organisational BAL marked officine freely (the pharmacy exception); otherwise only as a reply inside a
   thread a professional started with the patient, to one of its professionals, and not closed by [FIN].
Only a non-patient BAL (nominative, organisational, applicative, or a professional of another operator)
can therefore start a thread with a patient. ADR 0011 lists where each rule is enforced.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.http import Http404

from apps.accounts.models import UserKind
from apps.mailboxes.models import Mailbox, MailboxKind, MailboxStatus
from apps.messaging.recipient_policies import RecipientContext, Refusal
from apps.patients.addresses import (
    domain_of,
    ins_or_none,
    is_patient_address,
    patient_domain,
    patient_domain_hosted,
)
from apps.patients.models import PatientDocument, PatientProfile, ProfileState
from apps.patients.threads import thread_state

# "25 Mo total" for the national MES (docs/mssante.md §5); a setting may lower it for tests.
DEFAULT_PATIENT_MAX_BYTES = 25 * 1024 * 1024


# --- the French causes (they become the automatic return) -------------------------------------------------
def _refusal(code: str, message: str, smtp: int = 550, enhanced: str = "5.7.1") -> Refusal:
    return Refusal(code=code, message=message, smtp_code=smtp, smtp_enhanced=enhanced)


def refuse_invalid_address(address: str) -> Refusal:
    return _refusal(
        "patient_invalid_address",
        f"Message non distribué — adresse invalide : {address} n'est pas une adresse de messagerie patient "
        "valide (le matricule INS ou sa clé est incorrect).",
        550,
        "5.1.3",
    )


def refuse_unknown_patient(address: str) -> Refusal:
    return _refusal(
        "patient_not_found",
        "Message non distribué — patient non trouvé : aucune messagerie patient n'existe à l'adresse "
        f"{address}.",
        550,
        "5.1.1",
    )


def refuse_closed_profile(address: str) -> Refusal:
    return _refusal(
        "patient_closed",
        f"Message non distribué — messagerie fermée : le patient ({address}) a fermé sa messagerie de santé. "
        "Transmettez l'information par un autre moyen.",
        550,
        "5.2.1",
    )


def refuse_too_large(limit: int) -> Refusal:
    return _refusal(
        "patient_too_large",
        f"Message non distribué — taille dépassée : un message à un patient ne peut pas dépasser "
        f"{limit // (1024 * 1024)} Mo au total (pièces jointes encodées comprises).",
        552,
        "5.3.4",
    )


REFUSE_NOT_ACTIVATED = _refusal(
    "patient_not_activated",
    "Votre messagerie n'est pas encore activée : vous pouvez recevoir des messages, mais pas encore écrire "
    "ni répondre. Activez-la depuis votre espace.",
)
REFUSE_SENDER_CLOSED = _refusal(
    "patient_sender_closed", "Votre messagerie est fermée : l'envoi est impossible."
)
REFUSE_PATIENT_TO_PATIENT = _refusal(
    "patient_to_patient", "La messagerie patient ne permet pas d'écrire à un autre patient."
)
REFUSE_CANNOT_INITIATE = _refusal(
    "patient_cannot_initiate",
    "Vous ne pouvez répondre qu'à un professionnel qui vous a écrit : seul un professionnel peut commencer "
    "un échange. Vous pouvez en revanche écrire à une pharmacie.",
)
REFUSE_THREAD_CLOSED = _refusal(
    "patient_thread_closed",
    "Échange clôturé par le professionnel : vous ne pouvez plus répondre dans cette conversation.",
)


def patient_max_bytes() -> int:
    return int(getattr(settings, "PATIENT_MESSAGE_MAX_BYTES", DEFAULT_PATIENT_MAX_BYTES))


# --- the registered policy ---------------------------------------------------------------------------------
def _profile_by_ins(ins: str) -> PatientProfile | None:
    return PatientProfile.objects.filter(ins=ins).first()


def _sender_is_patient(context: RecipientContext) -> bool:
    mailbox, user = context.sender_mailbox, context.sender_user
    return (
        is_patient_address(context.sender_address)
        or getattr(mailbox, "kind", None) == MailboxKind.PATIENT
        or (getattr(user, "kind", None) == UserKind.PATIENT and mailbox is not None)
    )


def check_patient_rules(context: RecipientContext) -> Refusal | None:
    """The MSS-C rule for one recipient of one message; None when it does not concern patients or passes."""
    if _sender_is_patient(context):
        return _check_from_patient(context)
    if is_patient_address(context.recipient_address):
        return _check_to_patient(context)
    return None


def _check_to_patient(context: RecipientContext) -> Refusal | None:
    address = context.recipient_address.lower()
    limit = patient_max_bytes()
    if context.size > limit:
        return refuse_too_large(limit)
    ins = ins_or_none(address)
    if ins is None:
        return refuse_invalid_address(address)
    if not patient_domain_hosted():
        return None  # the national MES answers for its profiles (its DSNs map to the same causes)
    profile = _profile_by_ins(ins)
    if profile is None:
        return refuse_unknown_patient(address)
    if not profile.can_receive:
        return refuse_closed_profile(address)
    return None


def _sender_profile(context: RecipientContext) -> PatientProfile | None:
    mailbox = context.sender_mailbox
    if mailbox is not None and getattr(mailbox, "kind", None) == MailboxKind.PATIENT:
        return PatientProfile.objects.filter(mailbox_id=mailbox.pk).first()
    ins = ins_or_none(context.sender_address)
    return _profile_by_ins(ins) if ins else None


def _check_from_patient(context: RecipientContext) -> Refusal | None:
    # A patient of the hosted domain has a profile here; one of the national MES writes in over SMTP.
    hosted_sender = patient_domain_hosted()
    profile = _sender_profile(context) if hosted_sender else None
    if hosted_sender and (profile is None or profile.state == ProfileState.CLOSED):
        return REFUSE_SENDER_CLOSED
    if profile is not None and not profile.can_send:
        return REFUSE_NOT_ACTIVATED
    if is_patient_address(context.recipient_address):
        return REFUSE_PATIENT_TO_PATIENT
    limit = patient_max_bytes()
    if context.size > limit:
        return refuse_too_large(limit)
    recipient = context.recipient_mailbox or _local_mailbox(context.recipient_address)
    if is_officine(recipient):
        return None
    if getattr(recipient, "kind", None) == MailboxKind.APPLICATIVE:
        # Software sends reports and reads orders from professionals: nobody would read a patient's reply.
        return REFUSE_AUTOMATIC_SERVICE
    if context.stage == "inbound" and not (context.in_reply_to or context.references):
        # SMTP RCPT TO comes before the headers: the thread rule runs at deposit, where the stored
        # message's In-Reply-To / References are known (a refusal there is the automatic return).
        return None
    return _check_reply(context, profile, recipient)


REFUSE_AUTOMATIC_SERVICE = Refusal(
    code="patient_to_applicative",
    message=(
        "Ce message vient d'un service automatique qui ne lit pas les réponses : pour toute question, "
        "écrivez au professionnel qui vous suit."
    ),
    smtp_code=550,
    smtp_enhanced="5.7.1",
)


def _check_reply(context: RecipientContext, profile: PatientProfile | None, recipient: Any) -> Refusal | None:
    patient_address = profile.address if profile is not None else context.sender_address.lower()
    state = thread_state(
        patient_address=patient_address,
        in_reply_to=context.in_reply_to,
        references=context.references,
        patient_mailbox_id=profile.mailbox_id if profile is not None else None,
        counterpart_mailbox_id=getattr(recipient, "pk", None),
    )
    if context.recipient_address.lower() not in state.professionals:
        return REFUSE_CANNOT_INITIATE
    if state.closed:
        return REFUSE_THREAD_CLOSED
    return None


def _local_mailbox(address: str) -> Mailbox | None:
    return Mailbox.objects.filter(address=(address or "").lower()).first()


def is_officine(mailbox: Any) -> bool:
    """An organisational BAL marked officine, active: the one kind a patient may write to first."""
    return bool(
        mailbox is not None
        and mailbox.kind == MailboxKind.ORGANISATIONAL
        and mailbox.is_officine
        and mailbox.status == MailboxStatus.ACTIVE
    )


# --- remote patient domain: its DSNs map to the same French returns ---------------------------------------
_DSN_CAUSES = (
    (re.compile(r"ferm|closed|disabled|inactive", re.IGNORECASE), "closed"),
    (re.compile(r"size|taille|too large|5\.3\.4|5\.2\.3", re.IGNORECASE), "too_large"),
    (re.compile(r"invalid|invalide|syntax|5\.1\.3", re.IGNORECASE), "invalid"),
    (re.compile(r"unknown|inconnu|not found|non trouv|5\.1\.1|no such", re.IGNORECASE), "unknown"),
)


def refusal_from_remote_dsn(address: str, status: str, diagnostic: str) -> Refusal | None:
    """The French automatic return for a DSN of the (remote) patient domain, None if not a patient's."""
    if domain_of(address) != patient_domain():
        return None
    text = f"{status} {diagnostic}"
    for pattern, cause in _DSN_CAUSES:
        if pattern.search(text):
            return {
                "closed": refuse_closed_profile,
                "too_large": lambda _address: refuse_too_large(patient_max_bytes()),
                "invalid": refuse_invalid_address,
                "unknown": refuse_unknown_patient,
            }[cause](address)
    return None


# --- the portal -------------------------------------------------------------------------------------------
def is_patient(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "kind", None) == UserKind.PATIENT)


def access_patient_profile(user: Any) -> PatientProfile:
    """The signed-in patient's own profile; 404 for anyone else (professionals never see the portal)."""
    if not is_patient(user):
        raise Http404
    profile = PatientProfile.objects.select_related("mailbox", "user").filter(user=user).first()
    if profile is None:
        raise Http404
    return profile


def access_document(profile: PatientProfile, document_id: Any) -> PatientDocument:
    pk = _uuid_or_none(document_id)
    document = PatientDocument.objects.filter(profile=profile, pk=pk).first() if pk else None
    if document is None:
        raise Http404
    return document


def _uuid_or_none(value: Any) -> str | None:
    text = str(value or "")
    return text if re.fullmatch(r"[0-9a-fA-F-]{32,36}", text) else None


def can_reply_in_thread(
    profile: PatientProfile, *, in_reply_to: str, references: tuple[str, ...], to: str
) -> Refusal | None:
    """The whole recipient rule messaging applies at submission (trust, local BAL, these MSS-C rules),
    asked ahead by the portal to show the reply box or say why not."""
    from apps.messaging.policies import check_recipient

    context = RecipientContext(
        sender_address=profile.address,
        recipient_address=to,
        sender_mailbox=profile.mailbox,
        sender_user=profile.user,
        in_reply_to=in_reply_to,
        references=references,
    )
    return check_recipient(context)


_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>@]+\.[^\s<>@.,;:]+>?")


def without_addresses(text: str) -> str:
    """A refusal shown to a patient never reveals a professional's address (ADR 0011)."""
    return _ADDRESS.sub("ce destinataire", text)
