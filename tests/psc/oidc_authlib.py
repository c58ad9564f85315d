"""Authlib glue of the loopback OpenID Connect provider (see tests/psc/oidc_provider.py for its API).

Authlib's server classes are framework-neutral; its Flask/Django integrations supply the request wrapper,
the client/code/token models and the response maker. These are the same pieces for a bare WSGI app.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.resource_protector import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

if TYPE_CHECKING:
    from tests.psc.oidc_provider import LoopbackOIDCProvider, PscSubject


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    auth_methods: list[str]
    signed_userinfo: bool = True

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"userinfo_signed_response_alg": "RS256"} if self.signed_userinfo else {}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    subject: PscSubject
    nonce: str | None
    acr: str
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return ["cps"]


@dataclass
class Token:
    access_token: str
    client_id: str
    scope: str
    subject: PscSubject
    expires_at: int
    client: Client

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return False

    def get_user(self) -> PscSubject:
        return self.subject

    def get_client(self) -> Client:
        return self.client


class Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._datalist


class WsgiRequest(OAuth2Request):
    """Authlib's request object built from a WSGI environ (what its Flask/Django integrations do)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        query = environ.get("QUERY_STRING", "")
        uri = f"http://{environ['HTTP_HOST']}{environ['PATH_INFO']}" + (f"?{query}" if query else "")
        super().__init__(environ["REQUEST_METHOD"], uri, headers=headers)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        self._args = dict(parse_qsl(query))
        self._form = dict(parse_qsl(body))
        self.payload = Payload(parse_qsl(query) + parse_qsl(body))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        provider: LoopbackOIDCProvider = self.server.provider
        data = request.payload.data
        requested_acr = (data.get("acr_values") or "").split()
        if data.get("nonce"):
            provider._used_nonces.add(data["nonce"])
        provider._codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri", ""),
            scope=data.get("scope", ""),
            subject=request.user,
            nonce=data.get("nonce") if provider.echo_nonce else None,
            acr=provider.acr or (requested_acr[0] if requested_acr else "eidas1"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        found = self.server.provider._codes.get(code)
        return found if found and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.provider._codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> PscSubject:
        return authorization_code.subject


class PscOpenIDCode(OpenIDCode):
    def __init__(self, provider: LoopbackOIDCProvider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # A nonce is accepted once (it is remembered when the code is issued): a replay is refused.
        return nonce in self.provider._used_nonces

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider._key

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.provider.issuer, "aud": [client.client_id]}

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.provider.kid, "typ": "JWT"}

    def generate_user_info(self, user: PscSubject, scope: str) -> UserInfo:
        # The ID token carries the identity; PSC's professional details are in userinfo.
        return UserInfo(sub=user.sub, preferred_username=user.national_id)


class PscUserInfoEndpoint(UserInfoEndpoint):
    def __init__(self, provider: LoopbackOIDCProvider, protector: ResourceProtector) -> None:
        super().__init__(resource_protector=protector)
        self.provider = provider

    def get_issuer(self) -> str:
        return self.provider.issuer

    def generate_user_info(self, user: PscSubject, scope: str) -> UserInfo:
        now = int(time.time())
        self.provider.userinfo_requests += 1
        return UserInfo(user.userinfo_claims(), iat=now, exp=now + 300)

    def resolve_private_key(self) -> RSAKey:
        return (
            self.provider._rogue_key if self.provider.userinfo_signing_key == "rogue" else self.provider._key
        )

    def get_supported_algorithms(self) -> list[str]:
        return ["RS256"]


class BearerValidator(BearerTokenValidator):
    def __init__(self, provider: LoopbackOIDCProvider) -> None:
        super().__init__()
        self.provider = provider

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.provider._tokens.get(token_string)


class Protector(ResourceProtector):
    """Authlib's framework integrations read the current request from the framework; wsgiref has none."""

    current: OAuth2Request | None = None

    def acquire_token(self, scopes: str | list[str] | None = None) -> Token:
        scope_list = [scopes] if isinstance(scopes, str) else scopes
        return self.validate_request(scope_list, self.current)


class Server(AuthorizationServer):
    def __init__(self, provider: LoopbackOIDCProvider) -> None:
        super().__init__(scopes_supported=None)
        self.provider = provider
        # PSC access tokens are short-lived (a few minutes); so are these.
        generator = BearerTokenGenerator(
            lambda **kw: secrets.token_urlsafe(32), None, lambda client, grant_type: 300
        )
        self.register_token_generator("default", generator)

    def query_client(self, client_id: str) -> Client | None:
        client = self.provider._client
        if client.client_id != client_id:
            return None
        client.auth_methods = list(self.provider.token_endpoint_auth_methods)
        client.signed_userinfo = self.provider.userinfo_format == "jwt"
        return client

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.provider._store_token(
            token["access_token"], request.user, token.get("scope", ""), token["expires_in"]
        )
        self.provider.token_requests.append(
            {"auth_method": request.auth_method, "code_verifier": bool(request.form.get("code_verifier"))}
        )

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple:
        if isinstance(body, dict):
            body = json.dumps(body)
        return status, (body or "").encode(), list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        return None
