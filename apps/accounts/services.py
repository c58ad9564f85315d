"""Writes on accounts: authentication records, second-factor milestones, log out everywhere."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.models import Outcome
from apps.audit.services import record_event


@transaction.atomic
def do_record_authentication(*, user: User, method: str = "password", complete: bool = True) -> None:
    """Journal a login; `complete` (second factor or PSC done) also stamps the last authentication date.

    The BAL lifecycle reads `last_authenticated_at` to find dormant accounts, so a password alone, for a
    user who must still enrol a second factor, does not count: enrolment completion stamps it instead.
    """
    if complete:
        now = timezone.now()
        User.objects.filter(pk=user.pk).update(last_authenticated_at=now)
        user.last_authenticated_at = now
    record_event("auth.login", actor=user, target=user, details={"method": method, "complete": complete})


@transaction.atomic
def do_record_logout(*, user: User) -> None:
    record_event("auth.logout", actor=user, target=user)


def _targeted_user(identifier: str) -> User | None:
    return User.objects.filter(email__iexact=identifier).only("pk", "email").first() if identifier else None


@transaction.atomic
def do_record_failed_login(*, identifier: str) -> None:
    # The attempted identifier is kept (who was targeted) but never the password.
    user = _targeted_user(identifier)
    record_event(
        "auth.login_failed",
        target_type="accounts.user",
        target_id=user.pk if user else "",
        outcome=Outcome.FAILURE,
        details={"identifier": identifier[:254]},
    )


@transaction.atomic
def do_record_lockout(*, identifier: str) -> None:
    """Journal a login attempt refused because of too many recent failures (rate limit reached)."""
    user = _targeted_user(identifier)
    record_event(
        "auth.lockout",
        target_type="accounts.user",
        target_id=user.pk if user else "",
        outcome=Outcome.DENIED,
        details={"identifier": identifier[:254]},
    )


@transaction.atomic
def do_record_account_event(*, user: User, action: str, failed: bool = False, **details: Any) -> None:
    """Journal an account security event (factor added/removed/used, codes regenerated, wrong code…)."""
    outcome = Outcome.FAILURE if failed else Outcome.SUCCESS
    record_event(action, actor=user, target=user, outcome=outcome, details=details)


@transaction.atomic
def do_logout_everywhere(*, acting_user: User) -> None:
    """Invalidate every session of the user, this one included (the session hash includes the epoch)."""
    User.objects.filter(pk=acting_user.pk).update(session_epoch=F("session_epoch") + 1)
    record_event("auth.logout_everywhere", actor=acting_user, target=acting_user)


@transaction.atomic
def do_ensure_recovery_codes(*, acting_user: User) -> list[str]:
    """Create recovery codes when the user has none yet; return the new codes (empty if they existed)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    if Authenticator.objects.filter(user=acting_user, type=Authenticator.Type.RECOVERY_CODES).exists():
        return []
    authenticator = RecoveryCodes.activate(acting_user).instance
    record_event("mfa.recovery_codes_generated", actor=acting_user, target=acting_user)
    return list(authenticator.wrap().get_unused_codes())


@transaction.atomic
def do_confirm_recovery_codes_saved(*, acting_user: User) -> None:
    """Close enrolment. Activating the factor proved its possession: the authentication is now complete."""
    now = timezone.now()
    User.objects.filter(pk=acting_user.pk).update(
        recovery_codes_saved_at=now, mfa_enrolled_at=now, last_authenticated_at=now
    )
    acting_user.recovery_codes_saved_at = now
    acting_user.mfa_enrolled_at = now
    acting_user.last_authenticated_at = now
    record_event("mfa.enrolment_completed", actor=acting_user, target=acting_user)
