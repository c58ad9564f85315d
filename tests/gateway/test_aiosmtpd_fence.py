"""Fence for what the gateway borrows from aiosmtpd beyond its public handler API.

`GatewaySMTP` (apps/gateway/server.py) overrides aiosmtpd's private `_getaddr` and replaces `smtp_DATA`
with a chunked reader that calls aiosmtpd's private `_reader`, `_set_post_data_state` and
`_call_handler_hook`; its `push` rewrites aiosmtpd's stock replies by their text; `GatewayHandler.handle_EHLO`
edits aiosmtpd's EHLO lines; the submission handler (submission.py) drives AUTH through `challenge_auth`. None
of this is promised by aiosmtpd, so its version is pinned exactly in pyproject.toml, and this test fails when
the version or the source of any part we rely on changes.

When it fails after an upgrade: read the new source of each part named in the failure against the code of
ours named beside it, adapt ours, run tests/gateway, then update PINNED and the hashes below.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import inspect
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiosmtpd import smtp
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session
from packaging.requirements import Requirement

from apps.gateway.server import _STOCK_REPLIES, GatewayHandler, GatewaySMTP
from apps.gateway.submission import SubmissionHandler
from tests.asyncrun import run_coroutine

PINNED = "1.4.6"

# aiosmtpd part -> (sha256 of its source, first 16 hex digits; what of ours relies on it)
RELIED_ON: dict[str, tuple[str, str]] = {
    "SMTP.__init__": (
        "8a9ca80f23ad9bf2",
        "the arguments GatewayServer and SubmissionServer pass; `handle_*`/`auth_*` found by name on the "
        "handler; a five-parameter handle_EHLO selects the list-of-lines EHLO hook",
    ),
    "SMTP.connection_made": ("77a45df5065bba34", "GatewaySMTP.connection_made (TCP_NODELAY, then this)"),
    "SMTP._cb_client_connected": ("a73e95bb7f362ab9", "sets `_reader`, which GatewaySMTP.smtp_DATA reads"),
    "SMTP.push": ("15f4f1de5e30c337", "GatewaySMTP.push rewrites the reply, then calls this"),
    "SMTP._handle_client": ("0e4d096403af6c74", "its 530/554 STARTTLS refusals, rewritten by _STOCK_REPLIES"),
    "SMTP.smtp_MAIL": ("80dd938e7791acfb", "calls self._getaddr; its '552 Error:' SIZE refusal is rewritten"),
    "SMTP.smtp_RCPT": ("a0d6605883c0e608", "calls self._getaddr (GatewaySMTP's)"),
    "SMTP._getaddr": ("0aeb21c56ac1260e", "GatewaySMTP._getaddr, a faster copy (test_address_parsing.py)"),
    "SMTP.smtp_DATA": ("3a33f30d3fd6d02f", "GatewaySMTP.smtp_DATA replaces it: same checks, replies, hook"),
    "SMTP.check_helo_needed": ("9829bb73251c983e", "called by GatewaySMTP.smtp_DATA"),
    "SMTP.check_auth_needed": ("812bbc794078b1b0", "called by GatewaySMTP.smtp_DATA"),
    "SMTP._set_post_data_state": ("1dc8a8abca2a8164", "called by GatewaySMTP.smtp_DATA"),
    "SMTP._create_envelope": ("54afceea638744d4", "the fresh envelope after DATA"),
    "SMTP._call_handler_hook": (
        "6ff23a6634ea0307",
        "called by GatewaySMTP.smtp_DATA (GatewayHandler.handle_DATA)",
    ),
    "SMTP.smtp_EHLO": (
        "1d91592dd954c4cd",
        "GatewayHandler.handle_EHLO drops '250-AUTH', edits the last line",
    ),
    "SMTP.challenge_auth": ("7ca4c59374e53538", "SubmissionHandler's AUTH PLAIN, LOGIN and XOAUTH2"),
    "SMTP.smtp_AUTH": ("79078b308377ac48", "calls SubmissionHandler.auth_*, keeps AuthResult.auth_data"),
    "syntax": ("9f7312554162eb89", "decorates GatewaySMTP.smtp_DATA"),
    "AuthResult": ("b6d4e1e2cb832241", "returned by SubmissionHandler.auth_*"),
    "Session": ("8e8cfc32c2b301ac", "GatewayHandler keeps its state on it (`session.gateway`), host_name"),
    "Envelope": ("a678e06f91b2853d", "content, original_content, mail_from, mail_options, rcpt_tos"),
}


def _source_hash(dotted: str) -> str:
    obj: Any = smtp
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def test_it_runs_the_exactly_pinned_aiosmtpd():
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    (requirement,) = [Requirement(r) for r in project["dependencies"] if r.lower().startswith("aiosmtpd")]
    assert str(requirement.specifier) == f"=={PINNED}", (
        "aiosmtpd must stay pinned exactly (see the docstring)"
    )
    assert importlib.metadata.version("aiosmtpd") == PINNED


def test_the_parts_of_aiosmtpd_the_gateway_relies_on_have_not_changed():
    changed = {
        name: relied_on for name, (digest, relied_on) in RELIED_ON.items() if _source_hash(name) != digest
    }
    assert not changed, (
        f"aiosmtpd changed under code of ours; re-check each before updating its hash: {changed}"
    )


def test_the_stock_replies_we_rewrite_are_still_aiosmtpd_s():
    for text in _STOCK_REPLIES:
        assert repr(text) in inspect.getsource(SMTP._handle_client), text
    assert "'552 Error: message size exceeds" in inspect.getsource(SMTP.smtp_MAIL)  # GatewaySMTP.push
    ehlo = inspect.getsource(SMTP.smtp_EHLO)
    assert '"250-AUTH "' in ehlo and "'250 HELP'" in ehlo  # GatewayHandler.handle_EHLO


def _gateway_smtp(handler: Any) -> GatewaySMTP:
    async def make() -> GatewaySMTP:  # as GatewayServer._factory makes it
        return GatewaySMTP(
            handler,
            data_size_limit=1000,
            hostname="mx.test",
            ident="MSSante gateway",
            tls_context=None,
            require_starttls=False,
            timeout=5,
            loop=asyncio.get_running_loop(),
        )

    return run_coroutine(make())


def test_the_gateway_s_overrides_plug_into_aiosmtpd():
    with ThreadPoolExecutor(max_workers=1) as executor:
        server = _gateway_smtp(GatewayHandler(executor, hostname="mx.test", max_recipients=10))
    assert server._smtp_methods["DATA"].__func__ is GatewaySMTP.smtp_DATA
    assert server._decode_data is False  # GatewaySMTP.smtp_DATA hands the handler bytes, never text
    assert server._ehlo_hook_ver == "new"  # handle_EHLO gets and returns the list of EHLO lines
    assert {"EHLO", "MAIL", "RCPT", "DATA", "exception"} <= set(server._handle_hooks)
    assert server.data_size_limit == 1000 and server.local_part_limit == 0


def test_the_private_calls_of_our_smtp_data_behave_as_it_expects():
    calls: list[tuple[Any, ...]] = []

    class Recorder:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            calls.append((server, session, envelope))
            return "250 2.0.0 stored"

    server = _gateway_smtp(Recorder())
    server.session = Session(server.loop)
    server._set_post_data_state()  # as connection_made does
    first = server.envelope
    assert isinstance(first, Envelope)
    assert run_coroutine(server._call_handler_hook("DATA")) == "250 2.0.0 stored"
    assert calls == [(server, server.session, first)]
    assert run_coroutine(server._call_handler_hook("NOOP")) is MISSING
    server._set_post_data_state()
    assert isinstance(server.envelope, Envelope) and server.envelope is not first


def test_the_submission_handler_s_mechanisms_replace_aiosmtpd_s():
    async def make() -> SMTP:
        with ThreadPoolExecutor(max_workers=1) as executor:
            return SMTP(
                SubmissionHandler(executor),
                auth_required=True,
                auth_require_tls=True,
                auth_exclude_mechanism=["CRAM-MD5"],
                loop=asyncio.get_running_loop(),
            )

    mechanisms = run_coroutine(make())._auth_methods
    assert set(mechanisms) == {"PLAIN", "LOGIN", "XOAUTH2"}
    assert not any(mechanism.is_builtin for mechanism in mechanisms.values())


def test_the_stdlib_internals_the_gateway_uses_are_there():
    from email import _header_value_parser

    async def buffer() -> Any:
        return asyncio.StreamReader()._buffer

    assert isinstance(run_coroutine(buffer()), bytearray)  # read_data puts pipelined bytes back into it
    assert callable(_header_value_parser.get_angle_addr) and callable(_header_value_parser.get_addr_spec)
