"""BAL quotas: the usage counter messaging keeps, warnings at 80 % and 95 %, the refusal when full.

`do_add_usage`, `check_quota` and `quota_of` are called by apps.messaging (deposit, deletion, recipient
checks); keep their signatures. A warning goes out once per upward crossing of a threshold:
`Mailbox.quota_warning_level` remembers the highest one already announced and falls back when usage drops,
so the next crossing warns again (docs/decisions/0012-mailbox-lifecycle.md).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.template.defaultfilters import filesizeformat

from apps.audit.services import changes, record_event
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.mailboxes.policies import can_administer_structure, is_operator_admin
from apps.mailboxes.usage import (  # noqa: F401 (part of this module's API: messaging calls quotas.quota_of)
    DEFAULT_QUOTA_BYTES,
    WARNING_LEVELS,
    QuotaUsage,
    get_quota_usage,
    level_for,
    quota_of,
)
from mssante_lib.jobs import enqueue_on_commit

logger = logging.getLogger(__name__)
MAX_QUOTA_BYTES = 1024**5  # 1 Pio: a typo guard, not a business limit


def do_add_usage(mailbox_id: int, delta: int) -> None:
    """Add (negative: remove) bytes to a BAL's usage in the caller's transaction; warn on a crossing.

    One UPDATE … RETURNING (every deposit passes here: a second round trip per message showed in the
    delivery benchmark); the warning level changes, rarely, with a conditional UPDATE.
    """
    if not delta:
        return
    table = Mailbox._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET used_bytes = used_bytes + %s WHERE id = %s "  # noqa: S608 (our table name)
            "RETURNING used_bytes, quota_bytes, quota_warning_level",
            [delta, mailbox_id],
        )
        row = cursor.fetchone()
    if row is None:
        return
    used, quota_bytes, current = row
    probe = Mailbox(pk=mailbox_id, quota_bytes=quota_bytes)
    level = level_for(used, quota_of(probe))
    if level == current:
        return
    _sync_warning_level(mailbox_id)  # rare: a threshold was crossed (either way)


def do_add_usage_many(usage: dict[int, int]) -> None:
    """`do_add_usage` for several BALs in one statement (a batch deposit: one round trip instead of one per
    BAL). The rows are locked in id order, as the one-by-one calls in sorted order did: two batches never
    deadlock on BAL rows."""
    deltas = {mailbox_id: delta for mailbox_id, delta in usage.items() if delta}
    if connection.vendor != "postgresql" or len(deltas) < 2:
        for mailbox_id in sorted(deltas):
            do_add_usage(mailbox_id, deltas[mailbox_id])
        return
    table = Mailbox._meta.db_table
    ids = sorted(deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH wanted(id, delta) AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[])), "  # noqa: S608
            f"locked AS (SELECT m.id FROM {table} m JOIN wanted USING (id) ORDER BY m.id FOR UPDATE) "
            f"UPDATE {table} m SET used_bytes = m.used_bytes + wanted.delta FROM wanted, locked "
            "WHERE m.id = wanted.id AND locked.id = m.id "
            "RETURNING m.id, m.used_bytes, m.quota_bytes, m.quota_warning_level",
            [ids, [deltas[i] for i in ids]],
        )
        rows = cursor.fetchall()
    for mailbox_id, used, quota_bytes, current in sorted(rows):
        if level_for(used, quota_of(Mailbox(pk=mailbox_id, quota_bytes=quota_bytes))) != current:
            _sync_warning_level(mailbox_id)  # rare: a threshold was crossed (either way)


def _sync_warning_level(mailbox_id: int) -> None:
    row = (
        Mailbox.objects.filter(pk=mailbox_id)
        .only("pk", "address", "quota_bytes", "used_bytes", "quota_warning_level")
        .first()
    )
    if row is None:
        return
    level = level_for(row.used_bytes, quota_of(row))
    if level == row.quota_warning_level:
        return
    # Conditional UPDATE: two concurrent deposits crossing the same threshold announce it once.
    updated = Mailbox.objects.filter(pk=mailbox_id, quota_warning_level=row.quota_warning_level).update(
        quota_warning_level=level
    )
    if updated and level > row.quota_warning_level:
        _announce(row, level)


def _announce(mailbox: Mailbox, level: int) -> None:
    record_event(
        "mailbox.quota_warning",
        mailbox=mailbox,
        target=mailbox,
        details={"level": level, "used_bytes": mailbox.used_bytes, "quota_bytes": quota_of(mailbox)},
    )
    mailbox_id = mailbox.pk
    enqueue_on_commit("apps.mailboxes.tasks.send_quota_warning", mailbox_id, level)


def check_quota(mailbox: Mailbox, incoming_size: int) -> str | None:
    """A French refusal when `incoming_size` more bytes would exceed the BAL's quota, else None."""
    if mailbox.used_bytes + incoming_size <= quota_of(mailbox):
        return None
    return f"La boîte aux lettres {mailbox.address} est pleine : le message n'a pas pu y être déposé."


# --- Usage as shown to people ------------------------------------------------------------------------------


# --- Administration ----------------------------------------------------------------------------------------


def can_set_mailbox_quota(user: Any, mailbox: Mailbox) -> bool:
    """Storage is the operator's resource: operator admins, and a structure's admins for its BALs."""
    if not user.is_authenticated:
        return False
    if is_operator_admin(user):
        return True
    return mailbox.structure_id is not None and can_administer_structure(user, mailbox.structure)


def check_quota_bytes(value: int | None) -> int | None:
    if value is None:
        return None
    if value <= 0:
        raise ValidationError(
            {"quota": "Le quota doit être positif (laissez vide pour le quota par défaut)."}
        )
    if value > MAX_QUOTA_BYTES:
        raise ValidationError({"quota": f"Quota trop grand (au plus {filesizeformat(MAX_QUOTA_BYTES)})."})
    return value


def do_set_mailbox_quota(mailbox: Mailbox, *, quota_bytes: int | None, acting_user: Any) -> Mailbox:
    """Set a BAL's own quota (None: back to the platform default); warns at once if usage now crosses."""
    quota_bytes = check_quota_bytes(quota_bytes)
    if acting_user is not None and not can_set_mailbox_quota(acting_user, mailbox):
        raise ValidationError("Vous ne pouvez pas modifier le quota de cette BAL.")
    with transaction.atomic():
        mailbox = Mailbox.objects.select_for_update(of=("self",)).get(pk=mailbox.pk)
        diff = changes(mailbox, {"quota_bytes": quota_bytes})
        if not diff:
            return mailbox
        mailbox.quota_bytes = quota_bytes
        mailbox.save(update_fields=["quota_bytes"])
        record_event(
            "mailbox.quota_changed",
            actor=acting_user,
            mailbox=mailbox,
            target=mailbox,
            details={"changes": diff, "used_bytes": mailbox.used_bytes},
        )
        _sync_warning_level(mailbox.pk)
    mailbox.refresh_from_db()
    return mailbox


# --- The warning e-mail ------------------------------------------------------------------------------------


def quota_warning_recipients(mailbox: Mailbox) -> list[str]:
    """Where a BAL's quota warning goes: its people's personal address, else their login address; the
    structure's admins too for shared BALs (they may raise the quota). Contains no health data."""
    from apps.mailboxes.lifecycle import admins_of, users_of

    people = list(users_of(mailbox))
    if mailbox.kind != MailboxKind.NOMINATIVE:
        people += admins_of(mailbox, include_operator=False)
    addresses = {(person.outside_email or person.email).lower() for person in people if person.is_active}
    return sorted(address for address in addresses if address)


def send_quota_warning(mailbox_id: int, level: int) -> int:
    """Send the warning for `level` if the BAL still stands at it (a late task after a purge stays quiet)."""
    from apps.accounts.outside_mail import send_each

    mailbox = Mailbox.objects.select_related("structure").filter(pk=mailbox_id).first()
    if mailbox is None or mailbox.quota_warning_level < level:
        return 0
    usage = get_quota_usage(mailbox)
    context = {"mailbox": mailbox, "usage": usage, "level": level}
    recipients = quota_warning_recipients(mailbox)
    sent = send_each("mailbox_quota_warning", [(address, context) for address in recipients])
    logger.info("quota warning %s%% for BAL %s sent to %d recipient(s)", level, mailbox_id, sent)
    return sent
