"""What a patient sends from the portal: a reply in a conversation, or a first message to a pharmacy.

Both go through messaging's `do_submit_message`, like every other sender: the MSS-C rules registered in
messaging (apps.patients.policies) decide there, so the portal's checks are only a courtesy and a forged
POST meets the same refusal. Refusals come back as SubmissionRefused with French reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.messaging.delivery.submit import Outgoing, SubmissionRefused, do_submit_message
from apps.messaging.models import Message, MessageCopy, Origin
from apps.messaging.store import mime
from apps.messaging.store.text import reply_subject
from apps.messaging.webmail.selectors import open_copy_fields
from apps.patients.models import PatientProfile
from apps.patients.selectors import get_pharmacy


def _parts(files: Iterable[Any]) -> list[mime.PartSource]:
    return [
        mime.PartSource(one.name, one.content_type or "application/octet-stream", one.chunks) for one in files
    ]


def _mailbox(profile: PatientProfile) -> Any:
    if profile.mailbox is None:
        raise SubmissionRefused("Votre messagerie n'est pas encore ouverte.")
    return profile.mailbox


def do_send_reply(
    profile: PatientProfile, target: MessageCopy, *, text: str, files: Iterable[Any] = (), acting_user: Any
) -> Message:
    """Answer `target` (a professional's message in the patient's BAL) to its sender."""
    mailbox = _mailbox(profile)
    if target.mailbox_id != mailbox.pk:
        raise SubmissionRefused("Ce message n'est pas dans votre messagerie.")
    opened = open_copy_fields(target, "subject") or {"subject": ""}
    outgoing = Outgoing(
        mailbox=mailbox,
        to=[target.message.sender_address],
        subject=reply_subject(opened["subject"]),
        text=text,
        attachments=_parts(files),
        reply_to_copy=target,
        origin=Origin.WEBMAIL,
    )
    return do_submit_message(outgoing, acting_user=acting_user)


def do_write_to_pharmacy(
    profile: PatientProfile,
    pharmacy_id: Any,
    *,
    subject: str,
    text: str,
    files: Iterable[Any] = (),
    acting_user: Any,
) -> Message:
    """A first message to an officine BAL (the pharmacy exception), e.g. a photo of a prescription."""
    mailbox = _mailbox(profile)
    pharmacy = get_pharmacy(pharmacy_id)
    if pharmacy is None:
        raise SubmissionRefused("Cette pharmacie n'est pas joignable par la messagerie de santé.")
    outgoing = Outgoing(
        mailbox=mailbox,
        to=[pharmacy.address],
        subject=subject.strip() or "Message d'un patient",
        text=text,
        attachments=_parts(files),
        origin=Origin.WEBMAIL,
    )
    return do_submit_message(outgoing, acting_user=acting_user)
