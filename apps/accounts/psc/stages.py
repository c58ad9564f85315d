"""allauth's second-factor login stage, skipped for a login that Pro Santé Connect has just authenticated.

A CPS card or the e-CPS app is itself a two-factor authentication at eIDAS substantial level ("eidas1"):
asking the TOTP of a professional who has one, right after PSC, adds friction and no security. allauth puts
its own `allauth.mfa.stages.AuthenticateStage` in `AccountAdapter.get_login_stages()`; the account adapter
swaps it for this class (see docs/decisions/0005-pro-sante-connect.md).
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.stages import AuthenticateStage as MfaAuthenticateStage
from django.http import HttpRequest

from apps.accounts.psc import PROVIDER_ID
from apps.accounts.selectors import is_psc_session

ALLAUTH_STAGE = "allauth.mfa.stages.AuthenticateStage"
PSC_AWARE_STAGE = "apps.accounts.psc.stages.AuthenticateStage"


def is_psc_login(request: HttpRequest, login: Any) -> bool:
    """True for the login that apps.accounts.psc.login has accepted in this very session."""
    sociallogin = (getattr(login, "signal_kwargs", None) or {}).get("sociallogin")
    account = getattr(sociallogin, "account", None)
    return account is not None and account.provider == PROVIDER_ID and is_psc_session(request)


class AuthenticateStage(MfaAuthenticateStage):
    def _should_handle(self, request: HttpRequest) -> bool:
        if is_psc_login(request, self.login):
            return False
        return super()._should_handle(request)


def psc_aware_login_stages(stages: list[str]) -> list[str]:
    """allauth's stage list with its second-factor stage replaced by the PSC-aware one."""
    return [PSC_AWARE_STAGE if path == ALLAUTH_STAGE else path for path in stages]
