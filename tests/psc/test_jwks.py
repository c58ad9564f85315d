"""Verification of provider-signed JWTs against the JWKS the loopback provider serves over HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
from allauth.socialaccount.providers.oauth2.client import OAuth2Error

from apps.accounts.psc.jwks import verify_signed_jwt
from tests.psc.oidc_provider import LoopbackOIDCProvider


@pytest.fixture
def provider() -> Iterator[LoopbackOIDCProvider]:
    with LoopbackOIDCProvider(client_id="rp") as started:
        yield started


def _claims(provider: LoopbackOIDCProvider, **overrides: object) -> dict:
    now = int(time.time())
    return {"iss": provider.issuer, "aud": "rp", "sub": "s", "iat": now, "exp": now + 60, **overrides}


def _verify(provider: LoopbackOIDCProvider, token: str) -> dict:
    jwks_uri = provider.issuer + "/protocol/openid-connect/certs"
    return verify_signed_jwt(token, jwks_uri=jwks_uri, issuer=provider.issuer, audience="rp")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_it_accepts_a_token_signed_by_the_issuer_with_or_without_kid(provider: LoopbackOIDCProvider) -> None:
    with_kid = provider.sign_jwt(_claims(provider, SubjectNameID="810001234565"))
    without_kid = provider.sign_jwt(_claims(provider), header={"alg": "RS256"})

    assert _verify(provider, with_kid)["SubjectNameID"] == "810001234565"
    assert _verify(provider, without_kid)["sub"] == "s"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "another-client"},
        {"iss": "https://attacker.example/realms/esante-wallet"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
def test_it_refuses_a_token_with_bad_claims(provider: LoopbackOIDCProvider, overrides: dict) -> None:
    with pytest.raises(OAuth2Error):
        _verify(provider, provider.sign_jwt(_claims(provider, **overrides)))


def test_it_refuses_a_token_without_issuer_or_audience(provider: LoopbackOIDCProvider) -> None:
    claims = _claims(provider)
    del claims["aud"]

    with pytest.raises(OAuth2Error):
        _verify(provider, provider.sign_jwt(claims))


def test_it_refuses_a_token_signed_by_a_key_not_in_the_jwks(provider: LoopbackOIDCProvider) -> None:
    with pytest.raises(OAuth2Error, match="signature"):
        _verify(provider, provider.sign_jwt(_claims(provider), key="rogue"))


def test_it_refuses_unsigned_and_hmac_tokens(provider: LoopbackOIDCProvider) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(provider))}."
    hmac_header = _b64({"alg": "HS256", "kid": provider.kid})
    hmac = f"{hmac_header}.{_b64(_claims(provider))}.c2lnbmF0dXJl"

    for token in (unsigned, hmac):
        with pytest.raises(OAuth2Error, match="refused"):
            _verify(provider, token)


def test_it_refuses_a_tampered_payload(provider: LoopbackOIDCProvider) -> None:
    header, _payload, signature = provider.sign_jwt(_claims(provider, SubjectNameID="810001234565")).split(
        "."
    )
    forged = _b64(_claims(provider, SubjectNameID="810002345675"))

    with pytest.raises(OAuth2Error, match="signature"):
        _verify(provider, f"{header}.{forged}.{signature}")
