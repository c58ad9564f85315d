"""Helpers shared by the journal tests."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent


def make_event(action: str = "message.read", *, days_ago: float = 0, **fields: Any) -> AuditEvent:
    """Insert a journal row directly, e.g. with an old `occurred_at` (record_event always uses now)."""
    occurred_at = timezone.now() - dt.timedelta(days=days_ago)
    return AuditEvent.objects.create(action=action, occurred_at=occurred_at, **fields)


def run_verify(*args: str) -> tuple[int, str]:
    """Run `manage.py audit_verify`; return (exit status, output)."""
    out = StringIO()
    try:
        call_command("audit_verify", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def tamper(sql: str, params: list[Any]) -> None:
    """Run `sql` with every trigger off, as a superuser bypassing the journal's guard would."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = origin")
