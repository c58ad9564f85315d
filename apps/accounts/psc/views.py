"""The OAuth2 adapter for PSC and the login/callback views that use it.

allauth's OpenID Connect adapter reads /userinfo as JSON and, when the token came over TLS, skips the ID token
signature. PSC answers /userinfo with a signed JWT (`application/jwt`): this adapter verifies it (JWKS from
discovery, iss, aud, exp), falls back to JSON for a provider that answers JSON, always verifies the ID token
signature, and requires the userinfo `sub` to be the ID token's (OpenID Connect Core 5.3.2).
"""

from __future__ import annotations

from typing import Any

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp, SocialToken
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest, HttpResponse

from apps.accounts.psc.jwks import verify_signed_jwt

JWT_CONTENT_TYPE = "application/jwt"


class PSCOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    def complete_login(self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any):
        id_token_str = kwargs["response"].get("id_token")
        if not id_token_str:
            raise OAuth2Error("PSC: no ID token in the token response")
        id_token = self._decode_id_token(app, id_token_str)
        userinfo = self.fetch_userinfo(app, token.token)
        if userinfo.get("sub") != id_token.get("sub"):
            raise OAuth2Error("PSC: userinfo sub differs from the ID token sub")
        return self.get_provider().sociallogin_from_response(
            request, {"userinfo": userinfo, "id_token": id_token}
        )

    def fetch_userinfo(self, app: SocialApp, access_token: str) -> dict[str, Any]:
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == JWT_CONTENT_TYPE:
            return verify_signed_jwt(
                response.text.strip(),
                jwks_uri=self.openid_config["jwks_uri"],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise OAuth2Error(f"PSC: userinfo neither JSON nor JWT ({content_type or 'no type'})") from exc

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        # Verified even though it came straight from the token endpoint: cheap, and it holds acr and nonce.
        return verify_signed_jwt(
            id_token,
            jwks_uri=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            require=("iss", "aud", "exp", "sub"),
        )


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2LoginView.adapter_view(PSCOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist as exc:
        raise Http404 from exc


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2CallbackView.adapter_view(PSCOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist as exc:
        raise Http404 from exc
