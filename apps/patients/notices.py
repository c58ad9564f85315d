"""Out-of-band notices to patients, at their personal address outside the trust space.

They say that something happened ("vous avez un nouveau message", "votre messagerie a été fermée") and
never what: no sender, no subject, no content (ADR 0011). New-message notices are batched by a beat job:
one mail per patient per run whatever the number of messages, each claimed with a conditional UPDATE of
`last_notified_at` so that two overlapping runs never mail twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.audit.services import record_event
from apps.messaging.models import FolderRole, MessageCopy
from apps.patients.models import PatientProfile, ProfileState

logger = logging.getLogger(__name__)


def _portal_url() -> str:
    return (settings.SITE_URL or "").rstrip("/") + reverse("patients:inbox")


def _mail(profile: PatientProfile, template: str, **context: object) -> bool:
    address = profile.user.outside_email
    if not address:
        return False
    context |= {"OPERATOR_NAME": settings.OPERATOR_NAME, "portal_url": _portal_url()}
    subject = render_to_string(f"patients/emails/{template}.subject.txt", context).strip()
    body = render_to_string(f"patients/emails/{template}.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=False)
    except Exception:  # the relay may be down: the next run tries again (last_notified_at is restored)
        logger.exception("patients: notice %s to profile %s failed", template, profile.pk)
        return False
    return True


def profiles_to_notify() -> list[PatientProfile]:
    unread_since = MessageCopy.objects.filter(
        mailbox_id=OuterRef("mailbox_id"),
        folder__role=FolderRole.INBOX,
        is_outgoing=False,
        is_read=False,
        received_at__gt=Coalesce(OuterRef("last_notified_at"), OuterRef("opened_at")),
    )
    return list(
        PatientProfile.objects.filter(notify_by_email=True, mailbox__isnull=False)
        .exclude(state=ProfileState.CLOSED)
        .exclude(user__outside_email="")
        .filter(Exists(unread_since))
        .select_related("user")
    )


def do_send_new_message_notices() -> int:
    """One notice per patient with unread messages received since their last notice; returns mails sent."""
    sent = 0
    for profile in profiles_to_notify():
        now, previous = timezone.now(), profile.last_notified_at
        claimed = PatientProfile.objects.filter(pk=profile.pk, last_notified_at=previous).update(
            last_notified_at=now
        )
        if not claimed:
            continue  # another run took this patient
        if not _mail(profile, "new_message"):
            PatientProfile.objects.filter(pk=profile.pk, last_notified_at=now).update(
                last_notified_at=previous
            )
            continue
        with transaction.atomic():
            record_event(
                "patient.notice_sent", mailbox=profile.mailbox, target=profile, actor_label="plateforme"
            )
        sent += 1
    return sent


def do_send_closed_notice(profile_id: int) -> bool:
    profile = PatientProfile.objects.select_related("user").get(pk=profile_id)
    if profile.state != ProfileState.CLOSED:
        return False
    return _mail(profile, "profile_closed", closed_at=profile.closed_at)


def closed_notice_due(profile_id: int) -> bool:
    return (
        PatientProfile.objects.filter(pk=profile_id, state=ProfileState.CLOSED)
        .exclude(user__outside_email="")
        .exists()
    )
