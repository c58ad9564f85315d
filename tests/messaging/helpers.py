"""Helpers for messaging tests: send through the real service, deliver synchronously, read back."""

from __future__ import annotations

from typing import Any

from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.submit import Outgoing, do_submit_message
from apps.messaging.models import Delivery, DeliveryState, MessageCopy
from apps.messaging.store import content
from apps.messaging.store.mime import PartSource

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def pdf_part(name: str = "courrier.pdf", body: bytes = PDF) -> PartSource:
    return PartSource(name, "application/pdf", lambda: [body])


def send(mailbox: Any, user: Any, to: list[str], *, deliver: bool = True, **fields: Any):
    message = do_submit_message(Outgoing(mailbox=mailbox, to=to, **fields), acting_user=user)
    if deliver:
        for delivery_id in Delivery.objects.filter(message=message, state=DeliveryState.QUEUED).values_list(
            "pk", flat=True
        ):
            do_deliver(delivery_id)
    return message


def subject_of(copy: MessageCopy) -> str:
    return content.open_text(
        content.data_key_of_copy(copy), copy.message_id, "subject", copy.message.subject_enc
    )


def body_of(copy: MessageCopy) -> str:
    return content.open_text(
        content.data_key_of_copy(copy), copy.message_id, "text", copy.message.body_text_enc
    )
