"""The person's messaging preferences (stored on the account, read by the delivery services)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.accounts.models import ReadReceiptPolicy, User
from apps.audit.services import record_event


def do_set_read_receipt_policy(user: User, policy: str, *, acting_user: Any) -> None:
    """Whether reading a message that asks for a read receipt returns it to its sender (RFC 8098)."""
    if policy not in ReadReceiptPolicy.values:
        raise ValueError(f"unknown read receipt policy {policy!r}")
    with transaction.atomic():
        old = User.objects.select_for_update().values_list("read_receipt_policy", flat=True).get(pk=user.pk)
        if old == policy:
            return
        User.objects.filter(pk=user.pk).update(read_receipt_policy=policy)
        user.read_receipt_policy = policy
        record_event(
            "account.read_receipt_policy_changed",
            actor=acting_user,
            target=user,
            details={"changes": {"read_receipt_policy": [old, policy]}},
        )


def do_set_signature(user: User, text: str | None, *, acting_user: Any) -> None:
    """The person's signature: `None` follows the Annuaire Santé, "" means none, else their own text. The
    audit event says which of the three it became, never the text (it is the person's to change at will)."""
    value = None if text is None else text.replace("\r\n", "\n").strip("\n")
    with transaction.atomic():
        old = User.objects.select_for_update().values_list("mail_signature", flat=True).get(pk=user.pk)
        if old == value:
            return
        User.objects.filter(pk=user.pk).update(mail_signature=value)
        user.mail_signature = value
        record_event(
            "account.signature_changed",
            actor=acting_user,
            target=user,
            details={"signature": _signature_state(old) + " -> " + _signature_state(value)},
        )


def _signature_state(value: str | None) -> str:
    return "annuaire" if value is None else ("none" if value == "" else "own")
