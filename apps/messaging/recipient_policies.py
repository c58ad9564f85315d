"""The registry of recipient policies: rules other apps plug into messaging without messaging importing them.

The trust-space rules that depend on who the recipient is (MSS-C patients: initiation, [FIN], profile
states, the pharmacy exception) live in their own app's policy module and register a callable here at
start-up (`AppConfig.ready`). `check_recipient` is called by every entry point that lets a message in or
out: `do_submit_message` (webmail, API, SMTP submission), the inbound SMTP gateway at RCPT TO, and the
deposit task; so a forged POST, an API call or an SMTP transaction meets the same rule as the UI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Refusal:
    """Why a recipient is refused: `code` for logs and SMTP mapping, `message` in French for the sender."""

    code: str
    message: str
    smtp_code: int = 550
    smtp_enhanced: str = "5.7.1"
    # Permanent refusals bounce; temporary ones (e.g. a full quota may free up) could be retried.
    permanent: bool = True


@dataclass
class RecipientContext:
    """What a policy may look at. Addresses are normalised lowercase; the mailboxes are local BALs or None."""

    sender_address: str
    recipient_address: str
    sender_mailbox: Any = None
    recipient_mailbox: Any = None
    sender_user: Any = None
    subject: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    size: int = 0
    # Where the check happens: "submit" (local sender), "inbound" (SMTP from another operator), "deposit".
    stage: str = "submit"


RecipientPolicy = Callable[[RecipientContext], Refusal | None]

_policies: dict[str, RecipientPolicy] = {}


def register(name: str, policy: RecipientPolicy) -> None:
    """Register (or replace, so `ready()` running twice is harmless) a named policy."""
    _policies[name] = policy


def unregister(name: str) -> None:
    _policies.pop(name, None)


def registered() -> list[str]:
    return sorted(_policies)


def check_registered_policies(context: RecipientContext) -> Refusal | None:
    """The first refusal of any registered policy, or None when every policy lets the recipient through."""
    for name in sorted(_policies):
        refusal = _policies[name](context)
        if refusal is not None:
            return refusal
    return None


DsnMapper = Callable[[str, str, str], Refusal | None]
_dsn_mappers: dict[str, DsnMapper] = {}


def register_dsn_mapper(name: str, mapper: DsnMapper) -> None:
    """`mapper(recipient, status, diagnostic)`: the sender-facing refusal a remote DSN stands for, if the
    plugging app knows that recipient's domain (MSS-C: the national patient domain's bounces)."""
    _dsn_mappers[name] = mapper


def map_remote_dsn(recipient: str, status: str, diagnostic: str) -> Refusal | None:
    for name in sorted(_dsn_mappers):
        refusal = _dsn_mappers[name](recipient, status, diagnostic)
        if refusal is not None:
            return refusal
    return None
