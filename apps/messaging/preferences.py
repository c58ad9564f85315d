"""The person's messaging preferences (stored on the account, read by the delivery services)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from apps.accounts.models import ReadReceiptPolicy, User
from apps.audit.services import record_event


def do_set_read_receipt_policy(user: User, policy: str, *, acting_user: Any) -> None:
    """Whether reading a message that asks for a read receipt returns it to its sender (RFC 8098)."""
    if policy not in ReadReceiptPolicy.values:
        raise ValueError(f"unknown read receipt policy {policy!r}")
    _set_preference(
        user, "read_receipt_policy", policy, "account.read_receipt_policy_changed", acting_user,
        lambda old, new: {"changes": {"read_receipt_policy": [old, new]}},
    )  # fmt: skip


def do_set_signature(user: User, text: str | None, *, acting_user: Any) -> None:
    """The person's signature: `None` follows the Annuaire Santé, "" means none, else their own text. The
    audit event says which of the three it became, never the text (it is the person's to change at will)."""
    value = None if text is None else text.replace("\r\n", "\n").strip("\n")
    _set_preference(
        user, "mail_signature", value, "account.signature_changed", acting_user,
        lambda old, new: {"signature": _signature_state(old) + " -> " + _signature_state(new)},
    )  # fmt: skip


def _set_preference(
    user: User, field: str, value: Any, event: str, acting_user: Any, details: Callable[[Any, Any], dict]
) -> None:
    """One preference of the person's account, row locked, journaled in the same transaction; no event
    when nothing changes."""
    with transaction.atomic():
        old = User.objects.select_for_update().values_list(field, flat=True).get(pk=user.pk)
        if old == value:
            return
        User.objects.filter(pk=user.pk).update(**{field: value})
        setattr(user, field, value)
        record_event(event, actor=acting_user, target=user, details=details(old, value))


def _signature_state(value: str | None) -> str:
    return "annuaire" if value is None else ("none" if value == "" else "own")
