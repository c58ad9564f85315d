"""A real OpenID Connect provider on loopback, shaped like Pro Santé Connect, built with Authlib.

It runs `wsgiref` on 127.0.0.1 with port 0 in a background thread and speaks plain HTTP; everything that
matters is Authlib's own server code (authorization code grant, PKCE S256, OpenID Connect code flow, signed
userinfo), so the relying party is tested against a maintained implementation, not against a mock.

Endpoints (below `issuer`, e.g. ``http://127.0.0.1:41234/auth/realms/esante-wallet``):

- ``/.well-known/openid-configuration``: discovery (issuer, endpoints,
  ``token_endpoint_auth_methods_supported``, ``acr_values_supported``,
  ``userinfo_signing_alg_values_supported``).
- ``/protocol/openid-connect/certs``: the JWKS (one RSA key generated at start, ``kid`` = ``provider.kid``).
- ``/protocol/openid-connect/auth``: authorization endpoint. No UI: it authenticates ``provider.subject`` at
  once and redirects to ``redirect_uri`` with ``code`` and ``state``. It honours ``nonce`` (refused if
  replayed), PKCE (``S256`` or plain, as Authlib supports) and ``acr_values`` (the ID token's ``acr`` is the
  first requested value unless ``provider.acr`` forces one).
- ``/protocol/openid-connect/token``: token endpoint (``client_secret_post`` and ``client_secret_basic``; the
  code is single use and bound to the redirect URI and PKCE challenge). The ID token is RS256-signed with
  ``iss``, ``aud``, ``exp``, ``nonce``, ``acr`` and ``at_hash``.
- ``/protocol/openid-connect/userinfo``: bearer-protected; answers a signed JWT (``application/jwt``, like
  PSC) or JSON when ``provider.userinfo_format = "json"``.

Use::

    with LoopbackOIDCProvider(client_id="rp", client_secret="s3cret",
                              redirect_uris=["http://testserver/cb/"]) as provider:
        provider.subject = PscSubject(national_id="810001234565", given_name="Alice", family_name="Martin")
        ...  # point the relying party at provider.issuer

``sign_jwt(claims, key="issuer"|"rogue")`` signs arbitrary claims with the issuer's key (or the rogue one).

Knobs for negative tests (attributes, change them at any time): ``subject``, ``userinfo_format``
("jwt"/"json"), ``userinfo_signing_key`` ("issuer" or "rogue": a key absent from the JWKS, same ``kid``),
``acr`` (force a value), ``echo_nonce`` (False: the ID token omits the nonce), ``require_pkce``,
``token_endpoint_auth_methods`` (advertised and accepted methods).

Records for assertions: ``authorization_requests`` (the query parameters received), ``token_requests``
(``auth_method`` used and whether a ``code_verifier`` came), ``userinfo_requests`` (count).

For later services (SMTP/IMAP XOAUTH2 with PSC access tokens): ``issue_access_token(subject, scope)`` mints a
bearer token without the browser dance and ``introspect(access_token)`` returns its claims (``active``,
``sub``, ``SubjectNameID``, ``client_id``, ``scope``, ``exp``) or ``{"active": False}``; the same tokens are
accepted by the userinfo endpoint.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.psc.oidc_authlib import (
    AuthorizationCode,
    BearerValidator,
    Client,
    CodeGrant,
    Protector,
    PscOpenIDCode,
    PscUserInfoEndpoint,
    QuietHandler,
    Server,
    Token,
    WsgiRequest,
)

REALM_PATH = "/auth/realms/esante-wallet"
_OIDC = "/protocol/openid-connect"


@dataclass
class PscSubject:
    """The person the provider authenticates, with PSC-shaped claims (idNat = 8+RPPS or 0+ADELI)."""

    national_id: str
    given_name: str = "Camille"
    family_name: str = "MARTIN"
    sub: str = ""
    email: str = ""
    professions: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # PSC's `sub` is a technical identifier distinct from the national id.
        self.sub = self.sub or f"f:{secrets.token_hex(8)}:{self.national_id}"
        if not self.professions:
            self.professions = [
                {"codeProfession": "10", "codeCategorieProfessionnelle": "C", "activities": []}
            ]

    def userinfo_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "sub": self.sub,
            "SubjectNameID": self.national_id,
            "preferred_username": self.national_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "SubjectRefPro": {"codeCivilite": "DR", "exercices": self.professions},
            "SubjectOrganization": "",
        }
        if self.email:
            claims["email"] = self.email
        return claims


class LoopbackOIDCProvider:
    """See the module docstring. Start with `start()` (or `with`), stop with `stop()`."""

    def __init__(
        self,
        *,
        client_id: str = "mssante-test-rp",
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
        subject: PscSubject | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.subject = subject or PscSubject(national_id="810001234565")
        self.userinfo_format = "jwt"
        self.userinfo_signing_key = "issuer"
        self.acr: str | None = None
        self.require_pkce = True
        self.echo_nonce = True
        self.token_endpoint_auth_methods = ["client_secret_post", "client_secret_basic"]
        self.authorization_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.userinfo_requests = 0
        self.kid = f"psc-test-{secrets.token_hex(4)}"
        self._key = RSAKey.generate_key(2048, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"})
        self._rogue_key = RSAKey.generate_key(
            2048, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"}
        )
        self._client = Client(client_id, self.client_secret, list(redirect_uris or []), [])
        self._codes: dict[str, AuthorizationCode] = {}
        self._tokens: dict[str, Token] = {}
        self._used_nonces: set[str] = set()
        self._lock = threading.RLock()
        self._server = self._build_authorization_server()
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> LoopbackOIDCProvider:
        self._httpd = make_server("127.0.0.1", 0, self._wsgi, handler_class=QuietHandler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="loopback-oidc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LoopbackOIDCProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "provider not started"
        return f"http://127.0.0.1:{self._httpd.server_port}"

    @property
    def issuer(self) -> str:
        return self.base_url + REALM_PATH

    @property
    def redirect_uris(self) -> list[str]:
        return self._client.redirect_uris

    def public_jwks(self) -> dict[str, Any]:
        return dict(KeySet([self._key]).as_dict(private=False))

    def sign_jwt(
        self, claims: dict[str, Any], *, key: str = "issuer", header: dict[str, Any] | None = None
    ) -> str:
        """A JWT signed with the issuer's key (or the "rogue" one), for tests of token verification."""
        signing_key = self._rogue_key if key == "rogue" else self._key
        return jwt.encode(header or {"alg": "RS256", "kid": self.kid}, claims, signing_key, ["RS256"])

    # --- helpers for other services (XOAUTH2) --------------------------------------------------------------
    def issue_access_token(
        self,
        subject: PscSubject | None = None,
        scope: str = "openid scope_all",
        *,
        expires_in: int = 300,
        as_jwt: bool = False,
        acr: str = "eidas1",
    ) -> str:
        """An opaque bearer token, or (as_jwt) a signed JWT like PSC's Keycloak's (iss, aud, exp, acr)."""
        subject = subject or self.subject
        token = secrets.token_urlsafe(32)
        if as_jwt:
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": self.client_id, "sub": subject.sub, "iat": now,
                      "exp": now + expires_in, "acr": acr, "azp": self.client_id, "jti": token}  # fmt: skip
            token = self.sign_jwt(claims)
        self._store_token(token, subject, scope, expires_in)
        return token

    def introspect(self, access_token: str) -> dict[str, Any]:
        token = self._tokens.get(access_token)
        if token is None or token.is_expired():
            return {"active": False}
        return {
            "active": True,
            "sub": token.subject.sub,
            "SubjectNameID": token.subject.national_id,
            "client_id": token.client_id,
            "scope": token.scope,
            "exp": token.expires_at,
        }

    # --- internals ---------------------------------------------------------------------------------------
    def _store_token(self, access_token: str, subject: PscSubject, scope: str, expires_in: int) -> None:
        with self._lock:
            self._tokens[access_token] = Token(
                access_token, self.client_id, scope, subject, int(time.time()) + int(expires_in), self._client
            )

    def _build_authorization_server(self) -> Server:
        server = Server(self)
        server.register_grant(CodeGrant, [CodeChallenge(required=True), PscOpenIDCode(self)])
        self._protector = Protector()
        self._protector.register_token_validator(BearerValidator(self))
        server.register_endpoint(PscUserInfoEndpoint(self, self._protector))
        return server

    def _discovery(self) -> dict[str, Any]:
        oidc = self.issuer + _OIDC
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{oidc}/auth",
            "token_endpoint": f"{oidc}/token",
            "userinfo_endpoint": f"{oidc}/userinfo",
            "jwks_uri": f"{oidc}/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": list(self.token_endpoint_auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
            "scopes_supported": ["openid", "scope_all"],
            "claims_supported": ["sub", "SubjectNameID", "SubjectRefPro", "preferred_username", "acr"],
        }

    def _route(self, request: WsgiRequest, path: str) -> tuple:
        if path == REALM_PATH + "/.well-known/openid-configuration":
            return 200, json.dumps(self._discovery()).encode(), [("Content-Type", "application/json")]
        if path == REALM_PATH + _OIDC + "/certs":
            return 200, json.dumps(self.public_jwks()).encode(), [("Content-Type", "application/json")]
        if path == REALM_PATH + _OIDC + "/auth":
            return self._authorize(request)
        if path == REALM_PATH + _OIDC + "/token" and request.method == "POST":
            return self._server.create_token_response(request)
        if path == REALM_PATH + _OIDC + "/userinfo":
            self._protector.current = request
            return self._server.create_endpoint_response("userinfo", request)
        return 404, b"not found", [("Content-Type", "text/plain")]

    def _authorize(self, request: WsgiRequest) -> tuple:
        self.authorization_requests.append(dict(request.payload.data))
        if self.require_pkce and request.payload.data.get("code_challenge_method") != "S256":
            body = {"error": "invalid_request", "error_description": "PKCE S256 required"}
            return 400, json.dumps(body).encode(), [("Content-Type", "application/json")]
        try:
            grant = self._server.get_consent_grant(request, end_user=self.subject)
        except OAuth2Error as error:
            # Authlib refuses an unknown client or redirect URI without redirecting: answer the error page.
            return (
                error.status_code,
                json.dumps(dict(error.get_body())).encode(),
                [("Content-Type", "application/json")],
            )
        return self._server.create_authorization_response(request, grant_user=self.subject, grant=grant)

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = WsgiRequest(environ)
        with self._lock:
            status, body, headers = self._route(request, environ["PATH_INFO"])
        reason = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
        start_response(f"{status} {reason.get(status, 'Error')}", headers)
        return [body]
