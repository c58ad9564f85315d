"""Hooks the social account adapter calls for PSC logins: accept (mark the session strong) or refuse.

A refusal is journalled ("auth.psc_refused" with its reason) and sends the person back to the login page with
a French message saying why; nothing of the refused login stays in the session.
"""

from __future__ import annotations

from typing import Any, NoReturn

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base.constants import AuthError
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import redirect

from apps.accounts.psc import PROVIDER_ID
from apps.accounts.psc.identity import identity_from_claims
from apps.accounts.psc.services import (
    PscLoginRefused,
    Refusal,
    check_authentication_context,
    do_accept_psc_login,
    do_record_psc_refusal,
    resolve_account,
)
from apps.accounts.selectors import STRONG_AUTH_PSC, STRONG_AUTH_SESSION_KEY


def is_psc(provider_id: str | None) -> bool:
    return provider_id == PROVIDER_ID


def _refuse(request: HttpRequest, refusal: PscLoginRefused) -> NoReturn:
    do_record_psc_refusal(refusal)
    request.session.pop(STRONG_AUTH_SESSION_KEY, None)
    messages.error(request, refusal.message)
    raise ImmediateHttpResponse(redirect("account_login"))


def _accepted_acr(sociallogin: SocialLogin) -> list[str]:
    provider = sociallogin.account.get_provider()
    return str(provider.get_auth_params().get("acr_values", "")).split()


def on_pre_social_login(request: HttpRequest, sociallogin: SocialLogin) -> None:
    """Map the PSC identity to the account, or refuse. On success the account is linked and the session is
    marked as strongly authenticated (the MFA gate lets a CPS/e-CPS login through)."""
    identity = identity_from_claims(sociallogin.account.extra_data)
    try:
        check_authentication_context(
            identity,
            expected_nonce=str(sociallogin.state.get("nonce", "")),
            accepted_acr=_accepted_acr(sociallogin),
        )
        user = resolve_account(identity)
        do_accept_psc_login(request, sociallogin, user, identity)
    except PscLoginRefused as refusal:
        _refuse(request, refusal)
    # Ref#2 CONF.28: the PSC access token is dropped now, so that it cannot reach the session store when
    # allauth stashes a pending login (e.g. a later login stage).
    sociallogin.token = None
    if request.user.is_authenticated:
        # allauth logs the current user out after this hook, which would flush the mark set below.
        get_account_adapter(request).logout(request)
    request.session[STRONG_AUTH_SESSION_KEY] = STRONG_AUTH_PSC


def on_authentication_error(
    request: HttpRequest, error: Any = None, exception: Exception | None = None
) -> None:
    """The exchange with PSC failed (bad signature, wrong issuer, network, cancelled): refuse cleanly."""
    reason = Refusal.CANCELLED if error == AuthError.CANCELLED else Refusal.PROVIDER_ERROR
    detail = (
        f"{error or ''} {exception.__class__.__name__ + ': ' + str(exception) if exception else ''}".strip()
    )
    _refuse(request, PscLoginRefused(reason, detail=detail))
