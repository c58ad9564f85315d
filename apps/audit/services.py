"""Writing to the journal. Call `record_event` inside the transaction of the change it describes."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.audit import context
from apps.audit.models import AuditEvent, Outcome

# Keys that must never reach the journal even if a caller passes them by mistake: content stays out.
_FORBIDDEN_DETAIL_KEYS = frozenset({"body", "content", "text", "html", "password", "secret", "token", "attachment"})


def _label_of(obj: Any) -> str:
    if obj is None:
        return ""
    for attr in ("email", "address"):
        value = getattr(obj, attr, None)
        if value:
            return str(value)[:254]
    return str(obj)[:254]


def record_event(
    action: str,
    *,
    actor: Any = None,
    mailbox: Any = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Insert one journal event. `actor` is the individual person (never a shared identity)."""
    clean = {key: value for key, value in (details or {}).items() if key not in _FORBIDDEN_DETAIL_KEYS}
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    ctx = context.current()
    actor_id = getattr(actor, "pk", None) if actor is not None and getattr(actor, "is_authenticated", True) else None
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor_id,
        actor_label=actor_label or (_label_of(actor) if actor_id else ""),
        mailbox_id=getattr(mailbox, "pk", None),
        mailbox_label=_label_of(mailbox),
        target_type=target_type,
        target_id=str(target_id)[:128],
        outcome=outcome,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        details=clean,
    )


def changes(instance: models.Model, new_values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Old/new pairs of the fields that really change, for the `details` of an admin-change event."""
    diff: dict[str, dict[str, Any]] = {}
    for field, new in new_values.items():
        old = getattr(instance, field)
        if old != new:
            diff[field] = {"old": _jsonable(old), "new": _jsonable(new)}
    return diff


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, models.Model):
        return str(value.pk)
    return str(value)
