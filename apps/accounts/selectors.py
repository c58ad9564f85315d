"""Reads on accounts: second-factor state of a user and strength of the current session."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from django.http import HttpRequest

from apps.accounts.models import User

STRONG_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)

# Contract with the Pro Santé Connect login (apps/accounts/psc): once PSC has authenticated the person
# with a CPS or e-CPS at eIDAS substantial level ("eidas1"), it sets
# request.session[STRONG_AUTH_SESSION_KEY] = "psc", best before allauth completes the login (e.g. in the
# social adapter's pre_social_login) so that the login itself is journalled as complete. That login is
# itself a strong, two-factor authentication, so the MFA gate lets that session through even without a
# TOTP or WebAuthn authenticator. A password login clears the key (see AccountAdapter.pre_authenticate).
STRONG_AUTH_SESSION_KEY = "strong_auth_method"
STRONG_AUTH_PSC = "psc"


def has_strong_factor(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type__in=STRONG_FACTOR_TYPES).exists()


def has_completed_mfa_enrolment(user: User) -> bool:
    return user.recovery_codes_saved_at is not None and has_strong_factor(user)


def is_confirming_codes(user: Any) -> bool:
    """A factor is enrolled but saving the recovery codes is not confirmed yet (the enrolment's last step)."""
    return bool(user.is_authenticated and user.recovery_codes_saved_at is None and has_strong_factor(user))


def is_psc_session(request: HttpRequest) -> bool:
    session: Any = getattr(request, "session", None)
    return session is not None and session.get(STRONG_AUTH_SESSION_KEY) == STRONG_AUTH_PSC


def is_held_at_enrolment(request: HttpRequest) -> bool:
    """True when the signed-in user must finish second-factor enrolment before reaching anything else."""
    user = request.user
    if not user.is_authenticated or not user.requires_mfa or is_psc_session(request):
        return False
    return not has_completed_mfa_enrolment(user)


def next_enrolment_url_name(user: User) -> str:
    return "accounts:recovery-codes" if has_strong_factor(user) else "accounts:mfa-required"


def unused_recovery_codes(user: User) -> list[str]:
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).first()
    if authenticator is None:
        return []
    return list(authenticator.wrap().get_unused_codes())


def user_display(user: User) -> str:
    """How a person is named in messages ("Connexion avec … réussie"): full name, else e-mail."""
    return user.get_full_name() or user.email
