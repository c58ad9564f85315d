"""Journal entries for authentication and second-factor events, and the last-authentication date.

Django's `user_logged_in` fires once allauth has run every login stage, the second factor included, so a
login journalled here is a finished login. allauth's MFA signals cover the factor lifecycle.
"""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.signals import password_changed
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from apps.accounts import services
from apps.accounts.selectors import has_strong_factor, is_psc_session


def _login_method_and_strength(request: Any, user: Any) -> tuple[str, bool]:
    records = get_authentication_records(request, user) if request is not None else []
    methods = [record.get("method", "") for record in records]
    if request is not None and is_psc_session(request):
        return "psc", True
    if "mfa" in methods:
        return "password+mfa", True
    if not user.requires_mfa:
        return (methods[-1] if methods else "password"), True
    # No allauth record: a programmatic login (tests, shell); strong if the user owns a strong factor.
    return (methods[-1] if methods else "direct"), (not methods and has_strong_factor(user))


@receiver(user_logged_in)
def on_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    method, complete = _login_method_and_strength(request, user)
    services.do_record_authentication(user=user, method=method, complete=complete)


@receiver(user_logged_out)
def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        services.do_record_logout(user=user)


@receiver(user_login_failed)
def on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    services.do_record_failed_login(
        identifier=str(credentials.get("email") or credentials.get("username") or "")
    )


@receiver(mfa_signals.authenticator_added)
def on_authenticator_added(sender: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    services.do_record_account_event(user=user, action="mfa.authenticator_added", type=authenticator.type)


@receiver(mfa_signals.authenticator_removed)
def on_authenticator_removed(sender: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    services.do_record_account_event(user=user, action="mfa.authenticator_removed", type=authenticator.type)


@receiver(mfa_signals.authenticator_reset)
def on_authenticator_reset(sender: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    services.do_record_account_event(
        user=user, action="mfa.recovery_codes_regenerated", type=authenticator.type
    )


@receiver(mfa_signals.authenticator_used)
def on_authenticator_used(sender: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    # Only recovery codes are journalled here: a TOTP or key use is part of the login event itself.
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        # Re-read: the instance the signal carries may predate the code being marked as used.
        fresh = Authenticator.objects.get(pk=authenticator.pk)
        remaining = len(fresh.wrap().get_unused_codes())
        services.do_record_account_event(user=user, action="mfa.recovery_code_used", remaining=remaining)


@receiver(mfa_signals.authentication_failed)
def on_mfa_failed(sender: Any, user: Any, authenticator: Authenticator | None = None, **kwargs: Any) -> None:
    kind = authenticator.type if authenticator is not None else ""
    services.do_record_account_event(user=user, action="auth.mfa_failed", failed=True, type=kind)


@receiver(password_changed)
def on_password_changed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    services.do_record_account_event(user=user, action="auth.password_changed")
