"""Commands of any state (RFC 3501 §6.1-6.2): CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS, LOGIN and
AUTHENTICATE (SASL through pysasl; OAUTHBEARER ours)."""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from pysasl.creds.plain import PlainCredentials
from pysasl.exception import InvalidResponse, MechanismUnusable
from pysasl.mechanism import ChallengeResponse, ServerChallenge

from apps.imap import auth, responses
from apps.imap.commands import Command
from apps.imap.responses import Raw
from apps.imap.session import ANY, Done, Session, State, command

PRIVACY = "Passez d'abord en TLS (STARTTLS) : aucun mot de passe ni jeton en clair."
LIMIT = "Trop de sessions IMAP ouvertes pour ce compte ou cette adresse : fermez-en une et réessayez."
SERVER_ID = {
    "name": "MSSante IMAP",
    "vendor": "Operateur MSSante",
    "version": "1",
    "support-url": "https://mssante.fr",
}


@command("CAPABILITY", states=ANY)
async def capability(session: Session, cmd: Command) -> Done:
    await session.send(b"* CAPABILITY " + " ".join(session.capabilities()).encode() + b"\r\n")
    return Done(text="Capacités listées.")


@command("NOOP", states=ANY)
async def noop(session: Session, cmd: Command) -> Done:
    if session.selected is not None:
        await session.selected.report_changes(session)
    return Done(text="Rien à signaler.")


@command("LOGOUT", states=ANY)
async def logout(session: Session, cmd: Command) -> Done:
    await session.bye("Déconnexion, à bientôt.")
    session.state = State.LOGOUT
    return Done(text="Session fermée.")


@command("ID", states=ANY, capabilities=("ID",))
async def id_command(session: Session, cmd: Command) -> Done:
    params = cmd.args["params"]
    if params and not session.client:
        session.client = " ".join(filter(None, [params.get("name", ""), params.get("version", "")]))[:100]
    server_id = {**SERVER_ID, "version": getattr(settings, "MSSANTE_VERSION", "1")}
    await session.untagged(Raw("ID"), [value for pair in server_id.items() for value in pair])
    return Done(text="Identification reçue.")


@command("ENABLE", states=frozenset({State.AUTHENTICATED}), capabilities=("ENABLE",))
async def enable(session: Session, cmd: Command) -> Done:
    # No extension that needs ENABLE (CONDSTORE, QRESYNC, UTF8=ACCEPT) is offered yet: none is enabled.
    await session.send(b"* ENABLED\r\n")
    return Done(text="Aucune extension à activer.")


@command("STARTTLS", states=frozenset({State.NOT_AUTHENTICATED}))
async def starttls(session: Session, cmd: Command) -> Done:
    if session.tls:
        return Done("BAD", "La session est déjà chiffrée.")
    await session.send(responses.status(cmd.tag, "OK", "Début de la négociation TLS."))
    await session.start_tls()
    return Done("", "")  # the tagged OK went out before the handshake


@command("LOGIN", states=frozenset({State.NOT_AUTHENTICATED}))
async def login(session: Session, cmd: Command) -> Done:
    if not session.tls:
        return Done("NO", PRIVACY, "PRIVACYREQUIRED")
    password = cmd.args["password"].decode("utf-8", "replace")
    return await _check(session, PlainCredentials(cmd.args["user"], password))


@command("AUTHENTICATE", states=frozenset({State.NOT_AUTHENTICATED}))
async def authenticate(session: Session, cmd: Command) -> Done:
    if not session.tls:
        return Done("NO", PRIVACY, "PRIVACYREQUIRED")
    name = cmd.args["mechanism"]
    mech = auth.mechanism(name) if name in session.server.config.mechanisms else None
    if mech is None:
        return Done("NO", "Mécanisme d'authentification non proposé.")
    exchanges: list[ChallengeResponse] = []
    initial = cmd.args["initial"]
    if initial is not None:
        first = _b64(initial) if initial != "=" else b""
        if first is None:
            return Done("BAD", "Réponse SASL invalide (base64).")
        exchanges.append(ChallengeResponse(b"", first))
    while True:
        try:
            creds, _final = mech.server_attempt(exchanges)
            break
        except ServerChallenge as challenge:
            answer = await _challenge(session, challenge.data)
            if answer is None:
                return Done("BAD", "Authentification abandonnée.")
            exchanges.append(ChallengeResponse(challenge.data, answer))
        except (InvalidResponse, MechanismUnusable):
            return Done("BAD", "Réponse SASL invalide.")
    done = await _check(session, creds)
    if done.state == "NO" and name in ("XOAUTH2", "OAUTHBEARER") and done.code == "AUTHENTICATIONFAILED":
        # RFC 7628 §3.2.2: the failure is a challenge carrying an error document; the client answers ^A.
        await _challenge(session, b'{"status":"invalid_token","scope":"openid scope_all"}')
    return done


async def _challenge(session: Session, data: bytes) -> bytes | None:
    await session.send(b"+ " + base64.b64encode(data) + b"\r\n")
    line = (await session.reader.readuntil(b"\r\n")).strip()
    if line == b"*":
        return None
    return _b64(line.decode("ascii", "replace"))


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


async def _check(session: Session, creds: object) -> Done:
    login, secret, is_token = auth.credentials_of(creds)  # type: ignore[arg-type]
    outcome = await session.db(auth.check_login_for, login, secret, is_token, session.peer, session.client)
    if isinstance(outcome, auth.Refusal):
        return Done("NO", outcome.text, outcome.code)
    if not session.server.admit(session, outcome.user_id):
        return Done("NO", LIMIT, "LIMIT")
    session.counted = True
    session.authenticated(outcome)
    return Done(text="Connexion acceptée.", code="CAPABILITY " + " ".join(session.capabilities()))
