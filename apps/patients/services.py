"""Writes of the patients app: profiles (open, activate, close), notices, automatic returns on closing.

Documents are written by `services_documents.py`, the portal's messages by `services_messages.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import UserKind
from apps.annuaire.identifiers import IdentifierError, check_ins
from apps.audit.services import record_event
from apps.mailboxes.services import do_create_patient_mailbox
from apps.messaging.models import Delivery, DeliveryState
from apps.patients.addresses import patient_address
from apps.patients.models import PatientProfile, ProfileState
from apps.patients.policies import refuse_closed_profile
from mssante_lib.jobs import enqueue_on_commit

logger = logging.getLogger(__name__)


def check_new_profile(user: Any, ins: str) -> str:
    """The checked INS for a new profile of `user`, or ValidationError with a French message."""
    if getattr(user, "kind", None) != UserKind.PATIENT:
        raise ValidationError({"user": "Seul un compte patient peut recevoir une messagerie patient."})
    if PatientProfile.objects.filter(user=user).exists():
        raise ValidationError({"user": "Ce patient a déjà une messagerie."})
    try:
        checked = check_ins(ins)
    except IdentifierError as exc:
        raise ValidationError({"ins": f"Matricule INS invalide : {exc.reason}."}) from None
    if PatientProfile.objects.filter(ins=checked).exists():
        raise ValidationError({"ins": "Une messagerie existe déjà pour ce matricule INS."})
    return checked


def do_open_profile(
    *, user: Any, ins: str, birth_date: dt.date | None = None, activate: bool = False, acting_user: Any
) -> PatientProfile:
    """Open the MSS-C space of a patient: the profile and its patient BAL `<INS>@PATIENT_DOMAIN`."""
    checked = check_new_profile(user, ins)
    address = patient_address(checked)
    now = timezone.now()
    with transaction.atomic():
        mailbox = do_create_patient_mailbox(owner=user, address=address, acting_user=acting_user)
        profile = PatientProfile.objects.create(
            user=user,
            ins=checked,
            address=address,
            mailbox=mailbox,
            birth_date=birth_date,
            state=ProfileState.ACTIVATED if activate else ProfileState.OPEN,
            opened_at=now,
            activated_at=now if activate else None,
        )
        record_event(
            "patient.profile_opened",
            actor=acting_user,
            mailbox=mailbox,
            target=profile,
            details={"state": profile.state, "minor": profile.is_minor()},
        )
    return profile


def _locked(profile: PatientProfile) -> PatientProfile:
    return PatientProfile.objects.select_for_update().get(pk=profile.pk)


def do_activate_profile(profile: PatientProfile, *, acting_user: Any) -> PatientProfile:
    """The patient activates their space: from then on they may reply and write to a pharmacy."""
    with transaction.atomic():
        locked = _locked(profile)
        if locked.state == ProfileState.CLOSED:
            raise ValidationError("Cette messagerie est fermée : elle ne peut plus être activée.")
        if locked.state != ProfileState.ACTIVATED:
            locked.state, locked.activated_at = ProfileState.ACTIVATED, timezone.now()
            locked.save(update_fields=["state", "activated_at"])
            record_event(
                "patient.profile_activated", actor=acting_user, mailbox=locked.mailbox, target=locked
            )
    return locked


def do_close_profile(profile: PatientProfile, *, acting_user: Any) -> PatientProfile:
    """Close the space: nothing more is delivered (professionals get an automatic return), on commit the
    messages still waiting for it go back to their senders and the patient gets a notice outside."""
    with transaction.atomic():
        locked = _locked(profile)
        if locked.state == ProfileState.CLOSED:
            return locked
        previous = locked.state
        locked.state, locked.closed_at = ProfileState.CLOSED, timezone.now()
        locked.save(update_fields=["state", "closed_at"])
        record_event(
            "patient.profile_closed",
            actor=acting_user,
            mailbox=locked.mailbox,
            target=locked,
            details={"previous": previous},
        )
        profile_id = locked.pk
        enqueue_on_commit("apps.patients.tasks.return_pending_deliveries_task", profile_id)
        enqueue_on_commit("apps.patients.tasks.notify_profile_closed_task", profile_id)
    return locked


def do_set_notifications(
    profile: PatientProfile, *, notify_by_email: bool, outside_email: str, acting_user: Any
) -> PatientProfile:
    """Where (and whether) the patient is told of new messages, outside the trust space."""
    user = profile.user
    with transaction.atomic():
        PatientProfile.objects.filter(pk=profile.pk).update(notify_by_email=notify_by_email)
        type(user).objects.filter(pk=user.pk).update(outside_email=outside_email.strip().lower())
        record_event(
            "patient.notifications_changed",
            actor=acting_user,
            target=profile,
            details={"notify_by_email": notify_by_email, "has_outside_email": bool(outside_email)},
        )
    profile.refresh_from_db()
    user.refresh_from_db()
    return profile


def do_return_pending_deliveries(profile_id: int) -> int:
    """Fail, with the "messagerie fermée" cause, the deliveries still waiting for a closed profile.

    Each is claimed first with a conditional UPDATE (queued/held -> sending) so that a worker delivering it
    at the same moment cannot have it both deposited and bounced; the bounce is messaging's own.
    """
    from apps.messaging.delivery.deliver import do_fail_delivery

    profile = PatientProfile.objects.get(pk=profile_id)
    if profile.state != ProfileState.CLOSED:
        return 0
    refusal = refuse_closed_profile(profile.address)
    pending = Delivery.objects.filter(
        recipient=profile.address, state__in=[DeliveryState.QUEUED, DeliveryState.HELD]
    ).values_list("pk", "state")
    returned = 0
    for delivery_id, state in pending:
        claimed = Delivery.objects.filter(pk=delivery_id, state=state).update(
            state=DeliveryState.SENDING, state_changed_at=timezone.now(), attempts=F("attempts") + 1
        )
        if claimed:
            do_fail_delivery(delivery_id, code=refusal.code, reason=refusal.message)
            returned += 1
    return returned
