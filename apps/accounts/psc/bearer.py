"""A Pro Santé Connect access token presented by a mail client (SMTP AUTH XOAUTH2) -> the person, or None.

The token is checked by PSC itself: we call its userinfo endpoint with it (a revoked or expired token is
refused there), verify the signed answer like at login (apps.accounts.psc.jwks), and map the national id to
the account exactly like a browser login (`resolve_account`: active professional, existing account). The
e-mail the client claims must be that account's. Tokens are never stored.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.conf import settings

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


def user_for_access_token(email: str, token: str) -> User | None:
    """The account behind a PSC access token, if it is `email`'s; None (logged, no detail to the client)."""
    app = _psc_app()
    if app is None or not token:
        return None
    try:
        config = _discovery(app["settings"]["server_url"])
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
    return user
