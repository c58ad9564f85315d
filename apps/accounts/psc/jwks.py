"""Verification of JWTs signed by the OpenID provider (ID token, signed userinfo) against its published JWKS.

The accepted algorithms are fixed here, never taken from the token header: a token announcing "none" or an
HMAC algorithm is refused before any key is looked at.
"""

from __future__ import annotations

from typing import Any

import jwt
import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
LEEWAY_SECONDS = 30


def fetch_jwks(jwks_uri: str) -> dict[str, Any]:
    # Fetched at each login (a rare event): a rotated key is picked up at once, no cache to invalidate.
    with get_adapter().get_requests_session() as session:
        response = session.get(jwks_uri)
        response.raise_for_status()
        return response.json()


def _candidate_keys(jwks: dict[str, Any], kid: str | None, alg: str) -> list[jwt.PyJWK]:
    keys = []
    for data in jwks.get("keys", []):
        if kid and data.get("kid") != kid:
            continue
        if data.get("use", "sig") != "sig" or data.get("alg", alg) != alg:
            continue
        try:
            keys.append(jwt.PyJWK(data, algorithm=alg))
        except jwt.PyJWTError:
            continue
    return keys


def verify_signed_jwt(
    token: str, *, jwks_uri: str, issuer: str, audience: str, require: tuple[str, ...] = ("iss", "aud")
) -> dict[str, Any]:
    """Claims of `token` once its signature, issuer, audience and (if present) expiry are checked.

    Raises OAuth2Error (which allauth turns into an authentication error) on any failure.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise OAuth2Error("PSC: malformed JWT") from exc
    alg = header.get("alg", "")
    if alg not in ALLOWED_ALGORITHMS:
        raise OAuth2Error(f"PSC: JWT algorithm {alg!r} refused")
    try:
        jwks = fetch_jwks(jwks_uri)
    except (requests.RequestException, ValueError) as exc:
        raise OAuth2Error("PSC: JWKS unavailable") from exc
    # Without a kid (Authlib's signed userinfo has none), every signing key of the right type is tried.
    for key in _candidate_keys(jwks, header.get("kid"), alg):
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                issuer=issuer,
                audience=audience,
                leeway=LEEWAY_SECONDS,
                options={"require": list(require)},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise OAuth2Error(f"PSC: JWT refused ({exc.__class__.__name__})") from exc
    raise OAuth2Error("PSC: JWT signature does not match any key of the issuer")
