"""mssante_lib.mailpolicy: policy.default's parse, its header objects made once."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mssante_lib.mailpolicy import POLICY

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "eml").glob("*.eml"))

MALFORMED = (
    b"From: =?utf-8?q?Dr_=C3=89lodie?= <e.martin@demo.mssante.fr>\r\n"
    b"To: undisclosed-recipients:;, <bad@@example>\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"; charset=\r\n'
    b"Content-Disposition: attachment; filename*=utf-8''compte%20rendu.pdf\r\n"
    b"X-MSS-Test: =?iso-8859-1?q?d=E9j=E0?=\r\n"
    b"Date: not a date\r\n\r\n"
    b'--b1\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nBonjour\r\n--b1--\r\n'
)


def _walk(message):  # noqa: ANN001, ANN202
    for part in message.walk():
        for name, value in part.items():
            yield name, str(value), type(value).__mro__[1].__name__, [type(d).__name__ for d in value.defects]
        yield (
            "*content-type",
            part.get_content_type(),
            "",
            dict(part["content-type"].params) if part["content-type"] else {},
        )


@pytest.mark.parametrize("raw", [*(path.read_bytes() for path in FIXTURES), MALFORMED])
def test_the_same_headers_values_kinds_and_defects_as_policy_default(raw: bytes) -> None:
    expected = BytesParser(policy=policy.default).parsebytes(raw)
    for _ in range(2):  # the second parse reads the kept header objects
        parsed = BytesParser(policy=POLICY).parsebytes(raw)
        assert list(_walk(parsed)) == list(_walk(expected))


def test_header_objects_of_the_mime_structure_are_shared_and_classes_made_once() -> None:
    first = BytesParser(policy=POLICY).parsebytes(MALFORMED)
    second = BytesParser(policy=POLICY).parsebytes(MALFORMED)
    assert first["content-type"] is second["content-type"]
    # Unique-per-message fields are parsed each time, as before (nothing of them is kept).
    assert first["date"] is not second["date"]
    assert type(first["date"]) is type(second["date"])
