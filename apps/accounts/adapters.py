"""allauth adapters: no self-service sign-up, audited lockout, French messages, a second factor kept."""

from __future__ import annotations

import time
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.http import HttpRequest

from apps.accounts import attempts, services
from apps.accounts.selectors import STRONG_AUTH_SESSION_KEY, STRONG_FACTOR_TYPES, has_strong_factor

LOCKOUT_MESSAGE = (
    "Trop de tentatives de connexion ont échoué pour ce compte. Par sécurité, la connexion est bloquée "
    "pendant quelques minutes, même avec le bon mot de passe. Réessayez plus tard ou contactez le support "
    "de votre opérateur."
)


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "too_many_login_attempts": LOCKOUT_MESSAGE,
        "email_password_mismatch": "L'adresse e-mail ou le mot de passe est incorrect.",
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Accounts are opened by administrators for people registered in the annuaire, never self-service.
        return False

    def get_login_stages(self) -> list[str]:
        # A Pro Santé Connect login (CPS / e-CPS, eidas1) is already two-factor: no TOTP asked after it.
        from apps.accounts.psc.stages import psc_aware_login_stages

        return psc_aware_login_stages(super().get_login_stages())

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # A password login never inherits the strong-authentication mark of an earlier PSC login.
        if hasattr(request, "session"):
            request.session.pop(STRONG_AUTH_SESSION_KEY, None)
        login = str(credentials.get("email") or credentials.get("username") or "")
        self._login_usage = attempts.consume_attempt(
            attempts.WEB_LOGIN, login, request.META.get("REMOTE_ADDR")
        )
        if not self._login_usage:
            services.do_record_lockout(identifier=login)
            raise self.validation_error("too_many_login_attempts")

    def _rollback_login_failed_rl_usage(self) -> None:
        # allauth calls this after a successful authentication: only failures use the budget.
        usage = getattr(self, "_login_usage", None)
        if usage is not None:
            usage.rollback()

    def _delete_login_attempts_cached_email(self, request: HttpRequest, **credentials: Any) -> None:
        # After a successful password reset (itself rate limited): the account starts afresh.
        attempts.clear_attempts(attempts.WEB_LOGIN, str(credentials.get("email") or ""))

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """No second password prompt for the first factor enrolment right after logging in.

        allauth asks for the password again before any MFA change. During first enrolment the user has no
        factor yet and has just typed the password: asking again only adds friction, so a login younger than
        ACCOUNT_REAUTHENTICATION_TIMEOUT is enough. Once a factor exists, allauth's rule applies unchanged.
        """
        request = context.request
        user = getattr(request, "user", None)
        if (
            app == "allauth.mfa"
            and user is not None
            and user.is_authenticated
            and not has_strong_factor(user)
        ):
            records = get_authentication_records(request, user)
            if records and time.time() - records[-1]["at"] < account_settings.REAUTHENTICATION_TIMEOUT:
                return False
        return super().is_reauthentication_required(app=app, **kwargs)


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": (
            "Votre compte doit garder au moins une application d'authentification ou une clé de sécurité : "
            "ajoutez-en une autre avant de retirer celle-ci."
        ),
        "incorrect_code": "Code incorrect. Vérifiez l'heure de votre téléphone et saisissez le code affiché.",
    }

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """Users who reach health data may not drop their last TOTP or WebAuthn factor."""
        user = authenticator.user
        if authenticator.type not in STRONG_FACTOR_TYPES or not user.requires_mfa:
            return True
        others = Authenticator.objects.filter(user=user, type__in=STRONG_FACTOR_TYPES).exclude(
            pk=authenticator.pk
        )
        return others.exists()


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: object) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        # Pro Santé Connect: the account is found by national id (annuaire + User), never by e-mail.
        from apps.accounts.psc import login as psc_login  # imported late: it loads models of other apps

        if psc_login.is_psc(sociallogin.account.provider):
            psc_login.on_pre_social_login(request, sociallogin)
        super().pre_social_login(request, sociallogin)

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        from apps.accounts.psc import login as psc_login

        if psc_login.is_psc(getattr(getattr(provider, "app", None), "provider_id", None)):
            psc_login.on_authentication_error(request, error=error, exception=exception)
        super().on_authentication_error(request, provider, error, exception, extra_context)
