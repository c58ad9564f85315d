"""IMAP authentication: SASL mechanisms and the credential check shared with SMTP submission.

PLAIN, LOGIN and XOAUTH2 are pysasl's; OAUTHBEARER (RFC 7628) is written here. Credentials are checked by
the functions SMTP submission uses (apps.accounts: application passwords, Pro Santé Connect access tokens),
in a database thread, behind allauth's login rate limiter (the one the web login uses: same rates, same
lockout journal). Patients have no IMAP access. A session opened with a PSC token ends at the token's `exp`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from allauth.core import ratelimit
from django.db import transaction
from django.http import HttpRequest
from pysasl.creds.external import ExternalCredentials, ExternalVerificationRequired
from pysasl.creds.plain import PlainCredentials
from pysasl.exception import InvalidResponse
from pysasl.mechanism import ChallengeResponse, ServerChallenge, ServerMechanism
from pysasl.mechanism.login import LoginMechanism
from pysasl.mechanism.oauth import OAuth2Mechanism
from pysasl.mechanism.plain import PlainMechanism

from apps.accounts.models import User, UserKind
from apps.audit import context as audit_context
from apps.audit.models import Outcome
from apps.audit.services import record_event

logger = logging.getLogger(__name__)
MECHANISMS = ("PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER")
REFUSED = "Identifiant, mot de passe d'application ou jeton Pro Santé Connect refusé."
LOCKED = (
    "Trop de tentatives de connexion ont échoué pour ce compte. La connexion est bloquée quelques minutes, "
    "même avec le bon mot de passe."
)
REVOKED = "Ce mot de passe d'application a été révoqué : la session est fermée."
PATIENTS = "Les comptes patients n'ont pas d'accès IMAP : utilisez votre espace en ligne."
ACCESS_ENDED = (
    "L'accès IMAP à cette boîte aux lettres vient d'être fermé par son administrateur : "
    "la session est fermée."
)
IMAP_OFF = (
    "L'accès IMAP de vos boîtes aux lettres a été fermé par leur administrateur : utilisez la messagerie web."
)


class OAuthBearerMechanism(ServerMechanism):
    """RFC 7628 OAUTHBEARER: `n,a=<user>,^Aauth=Bearer <token>^A^A` (GS2 header, then key=value pairs)."""

    _gs2 = re.compile(rb"^n,(?:a=([^,]*))?,")

    def __init__(self) -> None:
        super().__init__(b"OAUTHBEARER")

    def server_attempt(self, responses: Sequence[ChallengeResponse]) -> tuple[ExternalCredentials, None]:
        if not responses:
            raise ServerChallenge(b"")
        data = responses[0].response
        match = self._gs2.match(data)
        if match is None:
            raise InvalidResponse()
        fields = {}
        for part in data[match.end() :].split(b"\x01"):
            key, sep, value = part.partition(b"=")
            if sep:
                fields[key.decode("ascii", "replace")] = value
        auth = fields.get("auth", b"")
        if not auth.lower().startswith(b"bearer "):
            raise InvalidResponse()
        user = (match.group(1) or b"").replace(b"=2C", b",").replace(b"=3D", b"=")
        return ExternalCredentials(user.decode("utf-8", "replace"), auth[7:].decode("utf-8", "replace")), None


def mechanism(name: str) -> ServerMechanism | None:
    return {
        "PLAIN": PlainMechanism,
        "LOGIN": LoginMechanism,
        "XOAUTH2": OAuth2Mechanism,
        "OAUTHBEARER": OAuthBearerMechanism,
    }.get(name, lambda: None)()


@dataclass(frozen=True)
class Identity:
    """Who a session acts as. `expires_at`: the PSC token's expiry (None for an application password)."""

    user_id: int
    email: str
    method: str
    expires_at: dt.datetime | None = None
    app_password_id: int | None = None


@dataclass(frozen=True)
class Refusal:
    code: str
    text: str


class _SecretOf:
    """pysasl hands a password only to an identity's `compare_secret`: the check itself runs later, in a
    database thread, through the same function as SMTP submission."""

    def __init__(self) -> None:
        self.secret = ""

    def compare_authcid(self, authcid: str) -> bool:
        return True

    def compare_secret(self, value: str) -> bool:
        self.secret = value
        return True


def credentials_of(creds: PlainCredentials | ExternalCredentials) -> tuple[str, str, bool]:
    """(login, secret, is_token) from pysasl credentials (LOGIN command = PLAIN). Acting as someone else
    (a PLAIN authzid other than the login) is not offered: such credentials get an empty secret."""
    if isinstance(creds, ExternalCredentials):
        try:
            creds.verify(None)
        except ExternalVerificationRequired as needed:  # pysasl's way of handing over the bearer token
            return creds.authzid, needed.token or "", True
    secret = _SecretOf()
    creds.verify(secret)  # type: ignore[arg-type]
    if creds.authzid != creds.authcid:
        return creds.authcid, "", False
    return creds.authcid, secret.secret, False


def _request(ip: str) -> HttpRequest:
    # allauth's limiter keys its per-address rate on the request's client address.
    request = HttpRequest()
    request.method = "POST"
    request.META["REMOTE_ADDR"] = ip or "0.0.0.0"  # noqa: S104 - an address, not a bind
    return request


def check_login(login: str, secret: str, *, is_token: bool, ip: str, client: str) -> Identity | Refusal:
    """Database thread: the identity, or a refusal (journaled). Failures count against the login limiter."""
    login = (login or "").strip()[:254]
    request, key = _request(ip), f"imap:{login.lower()}"
    with audit_context.use(audit_context.RequestContext(ip=ip or None, user_agent=f"IMAP {client}"[:300])):
        if not ratelimit.consume(request, action="login_failed", key=key, dry_run=True):
            from apps.accounts.services import do_record_lockout

            do_record_lockout(identifier=login)
            return Refusal("AUTHENTICATIONFAILED", LOCKED)
        found = _identity(login, secret, is_token, ip, client)
        if not isinstance(found, tuple):
            ratelimit.consume(request, action="login_failed", key=key)
            reason = "credentials"
            if isinstance(found, Refusal):
                reason = "patient" if found.text == PATIENTS else "imap_off"
            _journal_refusal(login, "psc" if is_token else "app_password", reason)
            return found if isinstance(found, Refusal) else Refusal("AUTHENTICATIONFAILED", REFUSED)
        identity, user = found
        with transaction.atomic():
            record_event(
                "imap.login",
                actor=user,
                target=user,
                details={"method": identity.method, "channel": "imap", "client": client[:100]},
            )
        return identity


def check_login_for(login: str, secret: str, is_token: bool, ip: str, client: str) -> Identity | Refusal:
    """`check_login` with positional arguments (for the thread pool)."""
    return check_login(login, secret, is_token=is_token, ip=ip, client=client)


def _identity(
    login: str, secret: str, is_token: bool, ip: str = "", client: str = ""
) -> tuple[Identity, User] | Refusal | None:
    if is_token:
        from apps.accounts.psc.bearer import grant_for_access_token

        grant = grant_for_access_token(login, secret)
        if grant is None:
            return None
        user, expires_at, password_id = grant.user, grant.expires_at, None
    else:
        from apps.accounts.app_passwords import check_app_password_row

        row = check_app_password_row(login, secret, ip=ip, client=client or "IMAP")
        if row is None:
            return None
        user, expires_at, password_id = row.user, None, row.pk
    if user.kind == UserKind.PATIENT:
        return Refusal("AUTHORIZATIONFAILED", PATIENTS)
    if not imap_open_to(user):
        return Refusal("AUTHORIZATIONFAILED", IMAP_OFF)
    method = "psc" if is_token else "app_password"
    return Identity(user.pk, user.email, method, expires_at, password_id), user


def _journal_refusal(login: str, method: str, reason: str) -> None:
    with transaction.atomic():
        record_event(
            "imap.login_refused",
            target_type="accounts.user",
            outcome=Outcome.DENIED,
            details={"identifier": login, "method": method, "reason": reason, "channel": "imap"},
        )


def imap_open_to(user: User) -> bool:
    """Whether the person may hold an IMAP session: not if every BAL they may use is closed to IMAP."""
    from apps.mailboxes.policies import can_log_in_over_imap
    from apps.mailboxes.selectors import list_mailboxes_for

    return can_log_in_over_imap(list_mailboxes_for(user))


def lost_access(sessions: list[tuple[int, int | None]]) -> set[tuple[int, int | None]]:
    """Database thread: of the (person, selected BAL or None) pairs of live sessions, those that must end —
    the person may no longer open a session, or the BAL they selected is closed to them over IMAP (turned
    off, suspended, membership removed)."""
    from apps.mailboxes.policies import can_log_in_over_imap, can_use_imap
    from apps.mailboxes.selectors import list_mailboxes_for

    ended = set()
    users = {user.pk: user for user in User.objects.filter(pk__in={pair[0] for pair in sessions})}
    for user_id in {pair[0] for pair in sessions}:
        user = users.get(user_id)
        usable = list_mailboxes_for(user) if user is not None and user.is_active else []
        allowed = user is not None and user.is_active and can_log_in_over_imap(usable)
        open_ids = {item.mailbox.pk for item in usable if can_use_imap(item.mailbox)}
        for pair in sessions:
            if pair[0] == user_id and (not allowed or (pair[1] is not None and pair[1] not in open_ids)):
                ended.add(pair)
    return ended
