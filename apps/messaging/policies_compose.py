"""Whether someone may write from a BAL, and if not, why — in words the webmail shows instead of the button.

`can_send_from` (policies.py) and the sidebar's « Nouveau message » both ask this one function, so the
button is offered exactly where the composer opens.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404

from apps.mailboxes.models import Mailbox, MailboxKind
from apps.mailboxes.policies import access_mailbox

APPLICATIVE_REFUSAL = (
    "Une BAL applicative envoie ses messages par son API, jamais depuis la messagerie : "
    "vous pouvez y lire les messages reçus, pas en écrire."
)
READ_ONLY_REFUSAL = (
    "Vous avez un accès en lecture seule à cette BAL : vous ne pouvez pas y écrire de message."
)


def sending_refusal(mailbox: Mailbox, *, can_write: bool) -> str:
    """No reason ("") when someone with (`can_write`) or without write access may send from `mailbox`."""
    if mailbox.kind == MailboxKind.APPLICATIVE:
        return APPLICATIVE_REFUSAL
    if not can_write:
        return READ_ONLY_REFUSAL
    return ""


def refusal_for(user: Any, mailbox: Mailbox) -> str:
    """`sending_refusal` for a user who may at least read `mailbox`."""
    try:
        access_mailbox(user, mailbox, for_write=True)
    except Http404:
        return sending_refusal(mailbox, can_write=False)
    return sending_refusal(mailbox, can_write=True)
