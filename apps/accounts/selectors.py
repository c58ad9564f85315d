from __future__ import annotations

from allauth.mfa.models import Authenticator

from apps.accounts.models import User

STRONG_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def has_strong_factor(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type__in=STRONG_FACTOR_TYPES).exists()


def has_completed_mfa_enrolment(user: User) -> bool:
    return user.recovery_codes_saved_at is not None and has_strong_factor(user)


def unused_recovery_codes(user: User) -> list[str]:
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).first()
    if authenticator is None:
        return []
    return list(authenticator.wrap().get_unused_codes())
