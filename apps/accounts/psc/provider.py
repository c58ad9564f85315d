"""allauth provider class for Pro Santé Connect, registered in place of the generic OpenID Connect one.

Registered through SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]: it keeps the id
"openid_connect" (so SocialApp settings and URL names are allauth's) but brings its own OAuth2 adapter and
URLs (`package`), which verify PSC's signed userinfo. Behaviour specific to PSC only applies to the app whose
provider_id is "psc"; another OpenID Connect app would still work, with signed userinfo support too.
"""

from __future__ import annotations

import secrets
from typing import Any

from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.http import HttpRequest

from apps.accounts.psc import PROVIDER_ID
from apps.accounts.psc.views import PSCOAuth2Adapter


class PSCProvider(OpenIDConnectProvider):
    package = "apps.accounts.psc"
    oauth2_adapter_class = PSCOAuth2Adapter

    @property
    def is_psc(self) -> bool:
        return self.app is not None and self.app.provider_id == PROVIDER_ID

    def get_auth_params_from_request(self, request: HttpRequest, action: Any) -> dict:
        # allauth lets `?auth_params=` override the configuration: that would let anyone lower acr_values.
        if self.is_psc:
            return self.get_auth_params()
        return super().get_auth_params_from_request(request, action)

    def get_scope_from_request(self, request: HttpRequest) -> list[str]:
        return self.get_scope() if self.is_psc else super().get_scope_from_request(request)

    def redirect(
        self, request: HttpRequest, process: Any, next_url: Any = None, data: Any = None, **kwargs: Any
    ):
        # allauth sends no nonce; the ID token must echo this one (services.check_authentication_context).
        nonce = secrets.token_urlsafe(24)
        if self.is_psc:
            # PSC only logs in: "connect" would tie the identity to whoever is logged in, not by national id.
            process = AuthProcess.LOGIN
        auth_params = kwargs.pop("auth_params", None)
        auth_params = dict(self.get_auth_params() if auth_params is None else auth_params)
        auth_params["nonce"] = nonce
        return super().redirect(
            request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
        )

    def extract_common_fields(self, data: dict) -> dict:
        fields = super().extract_common_fields(data)
        if self.is_psc:
            # An account is never matched or created from a PSC e-mail: only the national id counts.
            fields.pop("email", None)
        return fields

    def extract_email_addresses(self, data: dict) -> list:
        return [] if self.is_psc else super().extract_email_addresses(data)


provider_classes = [PSCProvider]
