"""A Pro Santé Connect access token presented by a mail client (SMTP AUTH XOAUTH2) -> the person, or None.

The token is checked by PSC itself: we call its userinfo endpoint with it (a revoked or expired token is
refused there), verify the signed answer like at login (apps.accounts.psc.jwks), and map the national id to
the account exactly like a browser login (`resolve_account`: active professional, existing account). The
e-mail the client claims must be that account's. Tokens are never stored.

A session that lasts (IMAP) must also end when the token expires: `grant_for_access_token` gives that
instant. PSC's access tokens are JWTs (Keycloak): their signature, issuer, audience (our client id), `exp`
and, when stated, `acr` (one of the acr_values PSC logins ask for) are checked against PSC's keys before
userinfo is asked. An opaque token (not a JWT) has no readable expiry: it is granted
`PSC_OPAQUE_TOKEN_LIFETIME` seconds (300, PSC's access-token lifetime) from the check.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import requests
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.conf import settings
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.psc import PROVIDER_ID
from apps.accounts.psc.identity import identity_from_claims
from apps.accounts.psc.jwks import verify_signed_jwt
from apps.accounts.psc.services import PscLoginRefused, resolve_account

logger = logging.getLogger(__name__)
TIMEOUT = 10


def _psc_app() -> dict[str, Any] | None:
    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    return next((app for app in apps if app.get("provider_id") == PROVIDER_ID), None)


def _discovery(server_url: str) -> dict[str, Any]:
    url = (
        server_url
        if ".well-known/" in server_url
        else server_url.rstrip("/") + "/.well-known/openid-configuration"
    )
    response = requests.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def _userinfo(config: dict[str, Any], client_id: str, token: str) -> dict[str, Any]:
    response = requests.get(
        config["userinfo_endpoint"], headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    if response.status_code in (400, 401, 403):
        raise PermissionError("token refused by PSC")
    response.raise_for_status()
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/jwt":
        return verify_signed_jwt(
            response.text.strip(), jwks_uri=config["jwks_uri"], issuer=config["issuer"], audience=client_id
        )
    return response.json()


@dataclass(frozen=True)
class BearerGrant:
    user: User
    expires_at: dt.datetime


def _token_expiry(config: dict[str, Any], app: dict[str, Any], token: str) -> dt.datetime:
    """`exp` of a JWT access token once verified (signature, issuer, audience, exp, acr): see above."""
    if token.count(".") != 2:
        lifetime = int(getattr(settings, "PSC_OPAQUE_TOKEN_LIFETIME", 300))
        return timezone.now() + dt.timedelta(seconds=lifetime)
    claims = verify_signed_jwt(
        token,
        jwks_uri=config["jwks_uri"],
        issuer=config["issuer"],
        audience=app["client_id"],
        require=("iss", "aud", "exp"),
    )
    accepted = str(app["settings"].get("auth_params", {}).get("acr_values") or "eidas1").split()
    if claims.get("acr") and claims["acr"] not in accepted:
        raise PermissionError(f"acr {claims['acr']!r} not accepted")
    return dt.datetime.fromtimestamp(int(claims["exp"]), tz=dt.UTC)


def user_for_access_token(email: str, token: str) -> User | None:
    """The account behind a PSC access token, if it is `email`'s; None (logged, no detail to the client)."""
    grant = grant_for_access_token(email, token)
    return grant.user if grant is not None else None


def grant_for_access_token(email: str, token: str) -> BearerGrant | None:
    """The account behind a PSC access token and when the token expires; None when refused (logged)."""
    app = _psc_app()
    if app is None or not token:
        return None
    try:
        config = _discovery(app["settings"]["server_url"])
        expires_at = _token_expiry(config, app, token)
        claims = _userinfo(config, app["client_id"], token)
        user = resolve_account(identity_from_claims({"userinfo": claims, "id_token": {}}))
    except PscLoginRefused as exc:
        logger.info("xoauth2: PSC identity refused: %s", exc.reason)
        return None
    except (PermissionError, OAuth2Error, requests.RequestException, KeyError, ValueError) as exc:
        logger.info("xoauth2: token not accepted: %s", exc)
        return None
    if user.email.lower() != (email or "").strip().lower():
        logger.info("xoauth2: token of %s presented for another login", user.pk)
        return None
    return BearerGrant(user, expires_at)
