"""Which thread a patient's message belongs to, who started it and whether a professional closed it.

Read-only and derived from the stored messages (Message.message_id / in_reply_to / references / is_fin),
so that the rule holds at every entry point without any state to keep in step (ADR 0011):
- the thread of a reply is the set of Message-IDs it names (In-Reply-To, References) plus those the named
  messages name in turn;
- a professional started it when one of those messages was sent by a non-patient address to the patient;
  the professionals of the thread are the senders of such messages (the patient may answer them only);
- it is closed when any message a professional sent to the patient in that thread closes it ([FIN] in the
  subject or X-MSS-MES: FIN, recorded as Message.is_fin), including a [FIN] the reply does not name: the
  patient's own inbox and the professional's sent messages are searched for [FIN] messages of the thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from apps.messaging.models import Message, MessageCopy
from apps.patients.addresses import is_patient_address

_MSGID = re.compile(r"<[^<>\s]+>")
_FIELDS = (
    "message_id",
    "in_reply_to",
    "references",
    "sender_address",
    "to_addresses",
    "cc_addresses",
    "is_fin",
)


def normalise_ids(values: Iterable[str]) -> list[str]:
    """Message-IDs in their `<...>` form, in order, without duplicates (bare ids get their brackets)."""
    found: list[str] = []
    for value in values:
        text = (value or "").strip()
        ids = _MSGID.findall(text) or ([f"<{text}>"] if text and " " not in text else [])
        found.extend(one for one in ids if one not in found)
    return found


def ids_named_by(row: dict[str, Any]) -> set[str]:
    return set(normalise_ids([row["message_id"], row["in_reply_to"], row["references"]]))


@dataclass
class ThreadState:
    ids: set[str] = field(default_factory=set)
    professionals: set[str] = field(default_factory=set)  # addresses that wrote to the patient in it
    closed: bool = False

    @property
    def started_by_professional(self) -> bool:
        return bool(self.professionals)


def _addressed_to(row: dict[str, Any], patient_address: str) -> bool:
    recipients = [*(row["to_addresses"] or []), *(row["cc_addresses"] or [])]
    return patient_address in {str(one).lower() for one in recipients}


def _from_professional_to(row: dict[str, Any], patient_address: str) -> bool:
    return not is_patient_address(row["sender_address"]) and _addressed_to(row, patient_address)


def _fin_candidates(
    patient_mailbox_id: int | None, counterpart_mailbox_id: int | None
) -> list[dict[str, Any]]:
    """[FIN] messages that may belong to the thread without the reply naming them."""
    rows: list[dict[str, Any]] = []
    if patient_mailbox_id is not None:
        copies = MessageCopy.objects.filter(mailbox_id=patient_mailbox_id, message__is_fin=True)
        for row in copies.values(*(f"message__{name}" for name in _FIELDS)):
            rows.append({name: row[f"message__{name}"] for name in _FIELDS})
    if counterpart_mailbox_id is not None:
        sent = Message.objects.filter(from_mailbox_id=counterpart_mailbox_id, is_fin=True)
        rows.extend(sent.values(*_FIELDS))
    return rows


def thread_state(
    *,
    patient_address: str,
    in_reply_to: str = "",
    references: Iterable[str] = (),
    patient_mailbox_id: int | None = None,
    counterpart_mailbox_id: int | None = None,
) -> ThreadState:
    """The state of the thread a message with these In-Reply-To / References belongs to."""
    patient_address = patient_address.lower()
    named = normalise_ids([in_reply_to, *references])
    state = ThreadState(ids=set(named))
    if not named:
        return state
    rows = list(Message.objects.filter(message_id__in=named).values(*_FIELDS))
    for row in rows:
        state.ids |= ids_named_by(row)
    for row in rows:
        if _from_professional_to(row, patient_address):
            state.professionals.add(row["sender_address"].lower())
            state.closed = state.closed or row["is_fin"]
    if state.professionals and not state.closed:
        for row in _fin_candidates(patient_mailbox_id, counterpart_mailbox_id):
            if _from_professional_to(row, patient_address) and ids_named_by(row) & state.ids:
                state.closed = True
                break
    return state
