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
