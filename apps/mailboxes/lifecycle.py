"""The inactivity lifecycle of BALs: warn at 10 months without activity, delete irrevocably at 12.

A BAL's activity is the latest of: its creation, the last authentication of any of its people (nominative:
the holder; organisational: the responsible professional and every member; also the last time someone
opened it), for an applicative BAL the last use of any of its software credentials, and the last
opposition to a deletion notice (opposing restarts the twelve months). MSS-C patient BALs follow the rules
of Mon espace santé, not this cycle. Rules and their reasons: docs/decisions/0012-mailbox-lifecycle.md.

A BAL is never deleted without a notice: the deletion needs an open notice of the current inactivity period
that was really sent (`sent_on`), and at least `NOTICE_MIN_MONTHS` since. A notice goes to each person's own
address outside the trust space (`User.outside_email`); when none has one, to the BAL's administrators;
when nobody can be reached, it stays unsent and the BAL is kept (and listed every day).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Max, OuterRef, QuerySet, Subquery, When
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User, UserKind
from apps.accounts.outside_mail import send_each
from apps.audit.models import Outcome
from apps.audit.services import record_event
from apps.mailboxes.keys import destroy_mailbox_key
from apps.mailboxes.models import (
    ApplicationCredential,
    LifecycleNotice,
    Mailbox,
    MailboxKind,
    MailboxMembership,
    NoticeChannel,
    NoticeClosure,
    StructureAdmin,
)
from apps.mailboxes.signals import mailbox_deleting

logger = logging.getLogger(__name__)

TOKEN_SALT = "apps.mailboxes.lifecycle.opposition"  # noqa: S105 (a signing salt, not a secret)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def warning_months() -> int:
    return _setting("MAILBOX_INACTIVITY_WARNING_MONTHS", 10)


def deletion_months() -> int:
    return _setting("MAILBOX_INACTIVITY_DELETION_MONTHS", 12)


def notice_min_months() -> int:
    return _setting("MAILBOX_INACTIVITY_NOTICE_MIN_MONTHS", 2)


# --- Who a BAL's people and administrators are -------------------------------------------------------------


def users_of(mailbox: Mailbox) -> list[User]:
    """The people of a BAL: holder, or responsible professional and members."""
    ids: set[int] = set()
    if mailbox.owner_id:
        ids.add(mailbox.owner_id)
    if mailbox.responsible_id:
        ids.add(mailbox.responsible_id)
    if mailbox.kind == MailboxKind.ORGANISATIONAL:
        ids.update(MailboxMembership.objects.filter(mailbox=mailbox).values_list("user_id", flat=True))
    return list(User.objects.filter(pk__in=ids).order_by("pk"))


def admins_of(mailbox: Mailbox, *, include_operator: bool = True) -> list[User]:
    """The structure's administrators, and (unless told otherwise) the operator's: active accounts only."""
    admins: dict[int, User] = {}
    if mailbox.structure_id:
        for link in StructureAdmin.objects.filter(structure_id=mailbox.structure_id).select_related("user"):
            admins[link.user.pk] = link.user
    if include_operator:
        for user in User.objects.filter(kind=UserKind.OPERATOR_ADMIN, is_active=True):
            admins[user.pk] = user
    return [user for _pk, user in sorted(admins.items()) if user.is_active]


# --- Activity ----------------------------------------------------------------------------------------------


def _latest(model: Any, field: str, **filters: Any) -> Subquery:
    rows = model.objects.filter(mailbox=OuterRef("pk"), **filters).values("mailbox").annotate(m=Max(field))
    return Subquery(rows.values("m")[:1], output_field=DateTimeField())


def with_activity(mailboxes: QuerySet[Mailbox]) -> QuerySet[Mailbox]:
    """Annotate `activity_at`: the date the inactivity clock runs from (see the module docstring)."""
    created = F("created_at")
    people = Greatest(
        Coalesce("last_activity_at", created),
        Coalesce("owner__last_authenticated_at", created),
        Coalesce("responsible__last_authenticated_at", created),
        Coalesce(_latest(MailboxMembership, "user__last_authenticated_at"), created),
        output_field=DateTimeField(),
    )
    # An applicative BAL lives through its software: its responsible person's logins do not count.
    human = Case(
        When(kind=MailboxKind.APPLICATIVE, then=created), default=people, output_field=DateTimeField()
    )
    return mailboxes.annotate(
        activity_at=Greatest(
            created,
            human,
            Coalesce(_latest(ApplicationCredential, "last_used_at"), created),
            Coalesce(_latest(LifecycleNotice, "opposed_at", opposed_at__isnull=False), created),
            output_field=DateTimeField(),
        )
    )


def activity_of(mailbox_id: int) -> dt.datetime | None:
    mailbox = with_activity(Mailbox.objects.filter(pk=mailbox_id)).first()
    return mailbox.activity_at if mailbox is not None else None  # type: ignore[attr-defined]


def start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _subject_to_cycle() -> QuerySet[Mailbox]:
    return Mailbox.objects.exclude(kind=MailboxKind.PATIENT)


# --- The plan: what is due on a given day ------------------------------------------------------------------

NOTICE = "notice"
RESEND = "resend"
WAIT = "wait"
DELETE = "delete"
CLOSE = "close"

ACTION_LABELS = {
    NOTICE: "Avis à envoyer",
    RESEND: "Avis à renvoyer (personne n'a encore été joint)",
    WAIT: "Avis envoyé, en attente",
    DELETE: "Suppression définitive",
    CLOSE: "Avis clos (activité reprise)",
}


@dataclass(frozen=True)
class Step:
    mailbox_id: int
    address: str
    kind: str
    inactive_since: dt.date
    action: str
    deletion_due_on: dt.date | None = None
    notice_id: int | None = None
    outcome: str = ""

    @property
    def action_label(self) -> str:
        return ACTION_LABELS[self.action]


def deletion_due(inactive_since: dt.date, sent_on: dt.date) -> dt.date:
    """Twelve months of inactivity, and never less than two months after the notice went out."""
    return max(
        inactive_since + relativedelta(months=deletion_months()),
        sent_on + relativedelta(months=notice_min_months()),
    )


def _step(mailbox: Mailbox, action: str, notice: LifecycleNotice | None, today: dt.date) -> Step:
    since = timezone.localdate(mailbox.activity_at)  # type: ignore[attr-defined]
    due = notice.deletion_due_on if notice is not None and notice.sent_on else deletion_due(since, today)
    return Step(
        mailbox_id=mailbox.pk,
        address=mailbox.address,
        kind=mailbox.annuaire_kind,
        inactive_since=since,
        action=action,
        deletion_due_on=due,
        notice_id=notice.pk if notice is not None else None,
    )


def warning_cutoff(today: dt.date) -> dt.datetime:
    """A BAL whose activity is before this instant is due for a notice on `today`."""
    return start_of_day(today + dt.timedelta(days=1) - relativedelta(months=warning_months()))


def plan_lifecycle(today: dt.date, *, mailbox_ids: Iterable[int] | None = None) -> list[Step]:
    """What the daily job does on `today` (read only: `--dry-run` and the administration page show it)."""
    cutoff = warning_cutoff(today)
    mailboxes = with_activity(_subject_to_cycle())
    if mailbox_ids is not None:
        mailboxes = mailboxes.filter(pk__in=list(mailbox_ids))
    notices = LifecycleNotice.objects.filter(closed_at__isnull=True)
    if mailbox_ids is not None:
        notices = notices.filter(mailbox_id__in=mailboxes.values("pk"))
    open_notices = {notice.mailbox_id: notice for notice in notices}
    steps: list[Step] = []
    inactive = mailboxes.filter(activity_at__lt=cutoff)  # type: ignore[misc]
    for mailbox in inactive.order_by("activity_at", "pk").iterator(2000):  # type: ignore[misc]
        notice = open_notices.pop(mailbox.pk, None)
        if notice is not None and notice.inactive_since < mailbox.activity_at:  # type: ignore[attr-defined]
            steps.append(replace(_step(mailbox, CLOSE, notice, today), deletion_due_on=None))
            notice = None
        steps.append(_step(mailbox, _action_for(notice, today), notice, today))
    steps.extend(_closing_steps(open_notices, today))
    return steps


def _action_for(notice: LifecycleNotice | None, today: dt.date) -> str:
    if notice is None:
        return NOTICE
    if notice.sent_on is None:
        return RESEND
    assert notice.deletion_due_on is not None  # a sent notice always has one (CheckConstraint)
    return DELETE if today >= notice.deletion_due_on else WAIT


def _closing_steps(open_notices: dict[int, LifecycleNotice], today: dt.date) -> list[Step]:
    """Open notices of BALs that are no longer inactive enough: someone came back."""
    if not open_notices:
        return []
    mailboxes = with_activity(Mailbox.objects.filter(pk__in=list(open_notices)))
    return [
        replace(_step(mailbox, CLOSE, open_notices[mailbox.pk], today), deletion_due_on=None)
        for mailbox in mailboxes.order_by("pk")
    ]


# --- Running the plan --------------------------------------------------------------------------------------


def run_lifecycle(today: dt.date, *, dry_run: bool = False) -> list[Step]:
    """Apply what is due on `today`; each step is its own transaction so one failure stops nothing else."""
    steps = plan_lifecycle(today)
    if dry_run:
        return steps
    done = []
    for step in steps:
        try:
            outcome = _apply(step, today)
        except Exception:  # one BAL's failure must not stop the daily run; logged with its traceback
            logger.exception("lifecycle: step %s failed for BAL %s", step.action, step.mailbox_id)
            outcome = "échec (voir les journaux)"
        done.append(replace(step, outcome=outcome))
    return done


def _apply(step: Step, today: dt.date) -> str:
    if step.action == CLOSE:
        assert step.notice_id is not None
        do_close_notice(step.notice_id, reason=NoticeClosure.ACTIVITY)
        return "avis clos"
    if step.action == NOTICE:
        notice = do_issue_notice(step.mailbox_id, today=today)
        return send_notice(notice.pk, today=today) if notice is not None else "plus dû"
    if step.action == RESEND:
        assert step.notice_id is not None
        return send_notice(step.notice_id, today=today)
    if step.action == DELETE:
        return "supprimée" if do_delete_inactive_mailbox(step.mailbox_id, today=today) else "plus due"
    return ""


# --- Services ----------------------------------------------------------------------------------------------


def do_issue_notice(mailbox_id: int, *, today: dt.date) -> LifecycleNotice | None:
    """Open the notice of the BAL's current inactivity period (not sent yet: `send_notice` does that)."""
    with transaction.atomic():
        mailbox = Mailbox.objects.select_for_update(of=("self",)).filter(pk=mailbox_id).first()
        if (
            mailbox is None
            or LifecycleNotice.objects.filter(mailbox=mailbox, closed_at__isnull=True).exists()
        ):
            return None
        activity = activity_of(mailbox.pk)
        if activity is None or activity >= warning_cutoff(today):  # someone came back since the plan
            return None
        notice = LifecycleNotice.objects.create(
            mailbox=mailbox, inactive_since=activity, issued_on=today, channel=NoticeChannel.NONE
        )
        record_event(
            "mailbox.lifecycle_notice_issued",
            mailbox=mailbox,
            target=notice,
            details={
                "inactive_since": timezone.localdate(activity).isoformat(),
                "issued_on": today.isoformat(),
            },
        )
    return notice


def _recipients(mailbox: Mailbox) -> tuple[str, list[tuple[User, str]]]:
    users = [
        (user, user.outside_email) for user in users_of(mailbox) if user.is_active and user.outside_email
    ]
    if users:
        return NoticeChannel.USERS, users
    admins = [(user, user.outside_email or user.email) for user in admins_of(mailbox)]
    if admins:
        return NoticeChannel.ADMINS, admins
    return NoticeChannel.NONE, []


def opposition_url(notice: LifecycleNotice, user: User) -> str:
    token = signing.dumps({"n": notice.pk, "u": user.pk}, salt=TOKEN_SALT, compress=True)
    return str(settings.SITE_URL).rstrip("/") + reverse("mailboxes:lifecycle-oppose", args=[token])


def send_notice(notice_id: int, *, today: dt.date) -> str:
    """Send the notice by e-mail (no health data: the address, the dates, a link) and record it as sent."""
    notice = LifecycleNotice.objects.select_related("mailbox", "mailbox__structure").get(pk=notice_id)
    mailbox = notice.mailbox
    channel, recipients = _recipients(mailbox)
    if not recipients:
        _record_unreachable(notice)
        return "personne à prévenir : BAL conservée"
    since = timezone.localdate(notice.inactive_since)
    due = deletion_due(since, today)
    template = "mailbox_inactivity_notice" if channel == NoticeChannel.USERS else "mailbox_inactivity_admin"
    base = {
        "mailbox": mailbox,
        "inactive_since": since,
        "deletion_due_on": due,
        "site_url": settings.SITE_URL,
    }
    messages = [
        (address, {**base, "person": user, "opposition_url": opposition_url(notice, user)})
        for user, address in recipients
    ]
    sent = send_each(template, messages)
    do_mark_notice_sent(notice.pk, channel=channel, count=sent, sent_on=today, deletion_due_on=due)
    return f"avis envoyé à {sent} {'utilisateur' if channel == NoticeChannel.USERS else 'administrateur'}(s)"


def _record_unreachable(notice: LifecycleNotice) -> None:
    """Journal once that nobody could be told (the daily plan keeps listing the BAL, which is kept)."""
    from apps.audit.models import AuditEvent

    reported = AuditEvent.objects.filter(
        action="mailbox.lifecycle_notice_undeliverable",
        target_type="mailboxes.lifecyclenotice",
        target_id=str(notice.pk),
    )
    with transaction.atomic():
        if not reported.exists():
            record_event(
                "mailbox.lifecycle_notice_undeliverable",
                mailbox=notice.mailbox,
                target=notice,
                outcome=Outcome.FAILURE,
                details={"reason": "no outside address for any user and no administrator"},
            )


def do_mark_notice_sent(
    notice_id: int, *, channel: str, count: int, sent_on: dt.date, deletion_due_on: dt.date
) -> None:
    with transaction.atomic():
        notice = LifecycleNotice.objects.select_for_update().select_related("mailbox").get(pk=notice_id)
        notice.channel, notice.recipient_count = channel, count
        notice.sent_on, notice.sent_at, notice.deletion_due_on = sent_on, timezone.now(), deletion_due_on
        notice.save(update_fields=["channel", "recipient_count", "sent_on", "sent_at", "deletion_due_on"])
        record_event(
            "mailbox.lifecycle_notice_sent",
            mailbox=notice.mailbox,
            target=notice,
            details={"channel": channel, "recipients": count, "deletion_due_on": deletion_due_on.isoformat()},
        )


def do_close_notice(notice_id: int, *, reason: str) -> None:
    with transaction.atomic():
        notice = LifecycleNotice.objects.select_for_update().select_related("mailbox").get(pk=notice_id)
        if notice.closed_at is not None:
            return
        notice.closed_at, notice.closed_reason = timezone.now(), reason
        notice.save(update_fields=["closed_at", "closed_reason"])
        record_event(
            "mailbox.lifecycle_notice_closed",
            mailbox=notice.mailbox,
            target=notice,
            details={"reason": reason},
        )


def may_oppose(user: User, notice: LifecycleNotice) -> bool:
    mailbox = notice.mailbox
    return any(one.pk == user.pk for one in [*users_of(mailbox), *admins_of(mailbox)])


def do_oppose_notice(notice_id: int, *, acting_user: Any, today: dt.date | None = None) -> LifecycleNotice:
    """Keep the BAL: the notice closes and the twelve months start again from the opposition."""
    with transaction.atomic():
        notice = LifecycleNotice.objects.select_for_update().select_related("mailbox").get(pk=notice_id)
        if notice.closed_at is not None:
            return notice
        if not may_oppose(acting_user, notice):
            raise ValidationError("Vous n'êtes ni utilisateur ni administrateur de cette BAL.")
        now = timezone.now() if today is None else start_of_day(today)
        notice.opposed_at, notice.opposed_by = now, acting_user
        notice.closed_at, notice.closed_reason = now, NoticeClosure.OPPOSED
        notice.save(update_fields=["opposed_at", "opposed_by", "closed_at", "closed_reason"])
        record_event(
            "mailbox.lifecycle_opposed",
            actor=acting_user,
            mailbox=notice.mailbox,
            target=notice,
            details={"opposed_on": timezone.localdate(now).isoformat()},
        )
    return notice


def read_opposition_token(token: str) -> tuple[LifecycleNotice, User] | None:
    """The notice and person a signed link names, or None (tampered, expired, BAL deleted, person gone)."""
    max_age = dt.timedelta(days=_setting("MAILBOX_INACTIVITY_LINK_DAYS", 120))
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=max_age)
        notice_id, user_id = int(data["n"]), int(data["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    notice = LifecycleNotice.objects.select_related("mailbox").filter(pk=notice_id).first()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if notice is None or user is None or not may_oppose(user, notice):
        return None
    return notice, user


def do_delete_inactive_mailbox(mailbox_id: int, *, today: dt.date) -> bool:
    """Irrevocable deletion, in one transaction: journal, destroy the BAL key (its copies can never be
    decrypted again, even from a backup of the rows), then remove the BAL's rows."""
    from apps.mailboxes.services import do_delete_mailbox

    with transaction.atomic():
        mailbox = Mailbox.objects.select_for_update(of=("self",)).filter(pk=mailbox_id).first()
        notice = (
            LifecycleNotice.objects.select_for_update()
            .filter(mailbox_id=mailbox_id, closed_at__isnull=True)
            .first()
        )
        if mailbox is None or notice is None or not _still_due(notice, today):
            return False
        details = {
            "inactive_since": timezone.localdate(notice.inactive_since).isoformat(),
            "notice_id": notice.pk,
            "notice_sent_on": notice.sent_on.isoformat() if notice.sent_on else None,
            "notice_channel": notice.channel,
            "notice_recipients": notice.recipient_count,
            "deletion_due_on": notice.deletion_due_on.isoformat() if notice.deletion_due_on else None,
            "kind": mailbox.annuaire_kind,
        }
        record_event("mailbox.lifecycle_deleted", mailbox=mailbox, target=mailbox, details=details)
        destroy_mailbox_key(mailbox.pk)
        mailbox_deleting.send(sender=Mailbox, mailbox_id=mailbox.pk)
        do_delete_mailbox(mailbox, acting_user=None)
    logger.info("lifecycle: BAL %s deleted after inactivity since %s", mailbox_id, details["inactive_since"])
    return True


def _still_due(notice: LifecycleNotice, today: dt.date) -> bool:
    """Re-checked under the lock: sent, due, and no activity since the notice was issued."""
    if notice.sent_on is None or notice.deletion_due_on is None or today < notice.deletion_due_on:
        return False
    activity = activity_of(notice.mailbox_id)
    return activity is not None and activity <= notice.inactive_since
