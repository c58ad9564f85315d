"""factory_boy factories. Persona fixtures in tests/plugins/personas.py build on these."""

from __future__ import annotations

import factory
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone

from apps.accounts.models import User, UserKind

DEFAULT_PASSWORD = "Motdepasse-demo-2026!"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Durand{n}")
    kind = UserKind.PROFESSIONAL
    national_id = factory.Sequence(lambda n: f"8{10000000000 + n:011d}")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            self.save(update_fields=["password"])


def enrol_totp(user: User) -> str:
    """Give `user` a TOTP authenticator and saved recovery codes; return the TOTP secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    RecoveryCodes.activate(user)
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(recovery_codes_saved_at=now, mfa_enrolled_at=now)
    user.recovery_codes_saved_at = now
    user.mfa_enrolled_at = now
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    return secret
