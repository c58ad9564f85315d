"""Submitted attachments are stored once, inside the raw message, and read back by their byte range."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apps.messaging.models import MessageCopy, StoredBlob
from apps.messaging.store import content, mime, storage
from apps.messaging.store.mime import PartSource, base64_slice
from apps.messaging.webmail.message import attachment_chunks, list_attachments
from tests.messaging.helpers import send


class _Sink:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)


def _chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    out, position = [], 0
    for size in sizes:
        out.append(data[position : position + size])
        position += size
    return [*out, data[position:]]


@given(
    payloads=st.lists(st.binary(max_size=3000), min_size=1, max_size=3),
    cuts=st.lists(st.integers(min_value=1, max_value=700), max_size=30),
)
@hsettings(max_examples=60, deadline=None)
def test_each_attachment_reads_back_from_its_range_whatever_the_chunking(payloads, cuts):
    sink = _Sink()
    sources = [
        PartSource(f"f{n}.bin", "application/octet-stream", lambda p=p: [p]) for n, p in enumerate(payloads)
    ]
    parts = mime.write_message(sink, headers=[("Subject", "x")], text="corps", attachments=sources)
    raw = sink.buffer.getvalue()
    for payload, part in zip(payloads, parts, strict=True):
        assert b"".join(base64_slice(_chunked(raw, cuts), part.start, part.end)) == payload
        assert part.size == len(payload) and part.sha256 == hashlib.sha256(payload).hexdigest()
        assert base64.b64decode(raw[part.start : part.end]) == payload


@pytest.mark.django_db
def test_a_submitted_message_stores_its_attachments_once_and_serves_them_whole(
    settings, alice_bal, cardio_bal, dr_alice
):
    settings.MESSAGE_INLINE_MAX_BYTES = 256 * 1024
    small, large = os.urandom(40_000), os.urandom(700_000)  # the large one makes the raw message a file
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Deux pièces",
        text="Voir pièces jointes.",
        attachments=[
            PartSource("petit.pdf", "application/pdf", lambda: [small]),
            PartSource("grand.dcm", "application/dicom", lambda: [large[:300_000], large[300_000:]]),
        ],
    )

    assert set(message.attachments.values_list("blob", flat=True)) == {""}  # no stream of their own
    assert not StoredBlob.objects.filter(name=message.raw_blob).exists()  # over the limit: a file
    copy = MessageCopy.objects.select_related("message").get(mailbox=cardio_bal, message=message)
    found = list_attachments(copy, content.data_key_of_copy(copy))
    assert [(a.filename, a.size) for a in found] == [("petit.pdf", 40_000), ("grand.dcm", 700_000)]
    assert b"".join(attachment_chunks(copy, found[0])) == small
    assert b"".join(attachment_chunks(copy, found[1])) == large
    data_key = content.data_key_of_copy(copy)
    assert message.size == sum(
        len(c) for c in storage.read_stream(message.pk, "raw", message.raw_blob, data_key)
    )
