"""apps.messaging.store.mime: what it writes parses back (email.parser, default policy) to exactly what was
given.

The writer's fast paths (headers as strings, binascii's QP and base64, RFC 2047/2231 written by hand) are
also compared with the former writer, which went through email.policy.SMTP for everything and is kept
below (`_reference_*`): for the same input, a reader must see the same values.
"""

from __future__ import annotations

import base64
import io
import re
from email import message_from_bytes
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP, default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.messaging.store import mime
from apps.messaging.store.mime import PartSource, write_message

# -- the former implementation (email.policy for every header and part) -------------------------------


def _reference_header_block(headers: list[tuple[str, str]]) -> bytes:
    msg = EmailMessage(policy=SMTP)
    for name, value in headers:
        if value:
            msg[name] = value
    raw = msg.as_bytes()
    return raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"


def _reference_text_part(text: str, subtype: str) -> bytes:
    part = MIMEPart(policy=SMTP)
    part.set_content(text, subtype=subtype, charset="utf-8", cte="quoted-printable")
    return part.as_bytes()


def _reference_attachment_head(source: PartSource) -> bytes:
    return mime._policy_attachment_head(source)  # noqa: SLF001 — kept verbatim as the fallback


# -- helpers ---------------------------------------------------------------------------------------------


def _parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def _headers_of(block: bytes) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in _parse(block + b"\r\n").items()]


def _lines(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\r\n")
    lines = raw[:-2].split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines), "bare CR or LF"
    return lines


def _written(**kwargs) -> bytes:  # noqa: ANN003
    out = io.BytesIO()
    write_message(out, **kwargs)
    return out.getvalue()


def _source(name: str, data: bytes, content_type: str = "application/pdf", chunk: int = 0) -> PartSource:
    if chunk:
        return PartSource(
            name, content_type, lambda: [data[i : i + chunk] for i in range(0, len(data), chunk)]
        )
    return PartSource(name, content_type, lambda: [data])


# -- headers ---------------------------------------------------------------------------------------------

ASCII_HEADERS = [
    ("From", "Dr Jean Dupont <jean.dupont@medecin.mssante.fr>"),
    ("To", "a@ch-sud.mssante.fr"),
    ("Cc", "b@ch-sud.mssante.fr, c@aphp.mssante.fr"),
    ("Subject", "Compte rendu consultation - DUPONT Jean"),
    ("Date", "Fri, 04 Dec 2026 21:30:00 +0000"),
    ("Message-ID", "<1a2b3c4d.123@medecin.mssante.fr>"),
    ("In-Reply-To", "<x@y.fr>"),
    ("References", "<a@y.fr> <b@y.fr>"),
    ("Disposition-Notification-To", "jean.dupont@medecin.mssante.fr"),
    ("X-MSS-NIL", "MSS-2026-0001"),
    ("MIME-Version", "1.0"),
]


def test_short_ascii_headers_are_byte_identical_to_the_former_writer():
    assert mime._header_block(ASCII_HEADERS) == _reference_header_block(ASCII_HEADERS)  # noqa: SLF001


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Subject", "Résultats échographie cardiaque - ÉLODIE Müller"),
        ("Subject", "Rendez-vous 12/03 😀 à confirmer"),
        ("Subject", "Très " * 40 + "long"),
        ("Subject", "word " * 60 + "end"),
        ("Subject", "x" * 150),
        ("Subject", "mixed ascii then accentué " + "a" * 90 + " fin"),
        ("Subject", "=?utf-8?q?pas_un_mot_encod=C3=A9?= mais du texte"),
        ("Subject", "tab\tinside and trailing"),
        ("Subject", "Ελληνικά 中文 العربية"),
        ("From", "Secrétariat Cardiologie Lyon <secretariat.cardiologie@chu-lyon.mssante.fr>"),
        ("From", "Dr Éric O'Neil-Dupré <e.oneil@aphp.mssante.fr>"),
        ("From", '"Dupont, Jean" <jean.dupont@medecin.mssante.fr>'),
        ("Sender", "Zoé Ñúñez <zoe@x.mssante.fr>"),
        ("To", ", ".join(f"destinataire.numero{i}@ch-sud.mssante.fr" for i in range(30))),
        ("To", "Dr Ève Martin <eve@x.fr>, Dr Noël Petit <noel@y.fr>"),
        ("Disposition-Notification-To", "Dr Éric <e@x.fr>"),
        ("X-MSS-Motif", "Échange dossier patient"),
    ],
)
def test_header_values_parse_back_exactly(name: str, value: str):
    block = mime._header_block([(name, value)])  # noqa: SLF001
    assert _headers_of(block) == [(name, value)]
    if "=?" not in value:  # the former writer decoded what looked like an encoded-word
        assert _headers_of(block) == _headers_of(_reference_header_block([(name, value)]))
    assert _folded_within_78(block)


def _folded_within_78(block: bytes) -> bool:
    """Every line within 78 characters, unless it is one word too long to fold."""
    lines = _lines(block)
    return all(line.isascii() for line in lines) and all(
        len(line) <= 78 or b" " not in line.split(b": ", 1)[-1].strip() for line in lines
    )


def test_non_ascii_values_use_encoded_words_and_keep_ascii_words_readable():
    block = mime._header_block([("Subject", "Résultats DUPONT Jean")])  # noqa: SLF001
    assert block == b"Subject: =?utf-8?q?R=C3=A9sultats?= DUPONT Jean\r\n"
    emoji = mime._header_block([("Subject", "😀😀😀")])  # noqa: SLF001
    assert emoji == b"Subject: =?utf-8?b?8J+YgPCfmIDwn5iA?=\r\n"
    sender = mime._header_block([("From", "Zoé <z@x.fr>")])  # noqa: SLF001
    assert sender == b"From: =?utf-8?q?Zo=C3=A9?= <z@x.fr>\r\n"


def test_header_injection_and_duplicate_unique_headers_are_refused_as_before():
    for value in ("a\r\nBcc: x@y.fr", "é\nBcc: x@y.fr", "a\rb", "é\x0bb"):
        with pytest.raises(ValueError, match="linefeed or carriage return"):
            mime._header_block([("Subject", value)])  # noqa: SLF001
        with pytest.raises(ValueError):
            _reference_header_block([("Subject", value)])
    with pytest.raises(ValueError, match="at most 1"):
        mime._header_block([("Subject", "a"), ("subject", "b")])  # noqa: SLF001
    assert mime._header_block([("Subject", ""), ("Cc", "")]) == b""  # noqa: SLF001


# French: Latin letters with accents and ligatures, digits, ASCII punctuation, runs of spaces.
_FRENCH = list("  aeiouyAEZ019éèêëàâäîïôöùûüçÉÈÀÇœŒæÆß'\"-_=?.,:;()<>@[]\\/!*%#&+~«»’…–")
_FRENCH_TEXT = st.text(alphabet=st.sampled_from(_FRENCH), max_size=200)
# Anything a header value may hold: other scripts, emoji, controls other than line breaks.
_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(_FRENCH),
        st.characters(
            blacklist_categories=("Cs", "Zl", "Zp"), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85"
        ),
    ),
    max_size=200,
)
_UNSTRUCTURED = st.sampled_from(["Subject", "X-MSS-Motif", "References"])


@settings(max_examples=300, deadline=None)
@given(value=_ANY_TEXT, name=_UNSTRUCTURED)
def test_any_unstructured_value_reads_back_exactly(name: str, value: str):
    block = mime._header_block([(name, value)])  # noqa: SLF001
    if not value:
        assert block == b""
        return
    # email.parser drops the spaces between the colon and the value, nothing else.
    assert _headers_of(block) == [(name, value.lstrip(" "))]
    assert _folded_within_78(block)
    assert all(len(line) <= 998 for line in _lines(block))


@settings(max_examples=300, deadline=None)
@given(value=_FRENCH_TEXT, name=_UNSTRUCTURED)
def test_french_values_read_back_as_with_the_former_writer(name: str, value: str):
    block = mime._header_block([(name, value)])  # noqa: SLF001
    if "=?" not in value:  # the former writer decoded what looked like an encoded-word
        assert _headers_of(block) == _headers_of(_reference_header_block([(name, value)]))


_NAME_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" aeiouyAEZ019éèêëàâäîïôöùûüçÉÈÀÇœŒæÆß'-_=?!*%#&+~")),
        st.characters(
            blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs"), blacklist_characters='\x85()<>[]:;@\\,."'
        ),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    display=_NAME_TEXT,
    local=st.from_regex(r"[a-z0-9][a-z0-9.+_-]{0,20}", fullmatch=True),
    domain=st.sampled_from(["medecin.mssante.fr", "chu-lyon.mssante.fr", "x.fr"]),
    name=st.sampled_from(["From", "To", "Sender", "Disposition-Notification-To"]),
)
def test_named_addresses_read_back_exactly(display: str, local: str, domain: str, name: str):
    value = f"{display} <{local}@{domain}>"
    block = mime._header_block([(name, value)])  # noqa: SLF001
    assert _folded_within_78(block)
    parsed = _parse(block + b"\r\n")[name]
    if name == "Disposition-Notification-To":  # not an address header for the registry: unstructured
        assert str(parsed) == value.lstrip(" ")
        return
    [address] = parsed.addresses
    assert address.addr_spec == f"{local}@{domain}"
    assert _headers_of(block) == _headers_of(_reference_header_block([(name, value)]))
    if len(display.encode()) < 20:  # longer names may be split into encoded-words, see mime._header
        assert address.display_name == display.strip(" ")


# -- text parts ------------------------------------------------------------------------------------------

LETTER = (
    "Cher confrère,\n\nJe vous adresse Mme DUPONT Élodie, née le 03/04/1951 à Lyon.\n"
    "Tension 13/8 ; poids = 62 kg ; traitement : Kardégic® 75 mg, œdème des membres inférieurs.   \n"
    ".\n.. point au début\nFrom le début\n\tligne tabulée\t\n" + "très longue ligne " * 20 + "\n"
    "Bien confraternellement,\nDr Noël Müller 😀"
)


def _qp_lines_are_valid(part: bytes) -> None:
    body = part.split(b"\r\n\r\n", 1)[1]
    for line in _lines(body):
        assert len(line) <= 76, line
        assert all(32 <= byte < 127 or byte == 9 for byte in line), line
        assert not line.endswith((b" ", b"\t")), line
        assert re.fullmatch(rb"([^=]|=[0-9A-F]{2})*=?", line), line
        assert line != b".", "a lone dot line would end an SMTP DATA section"


@pytest.mark.parametrize("text", [LETTER, "", "a", "\n", "é\r\nb\rc\n\n", "x" * 300, "= " * 100, " \t "])
@pytest.mark.parametrize("subtype", ["plain", "html"])
def test_text_parts_are_valid_quoted_printable_reading_back_as_before(text: str, subtype: str):
    part = mime._text_part(text, subtype)  # noqa: SLF001
    _qp_lines_are_valid(part)
    parsed, reference = _parse(part), _parse(_reference_text_part(text, subtype))
    assert parsed.get_content_type() == f"text/{subtype}"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content() == reference.get_content()
    # Lines normalised to CRLF with a final line end, as email's set_content always did.
    lines = text.encode().splitlines()
    assert parsed.get_payload(decode=True) == b"\r\n".join(lines) + b"\r\n"


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.one_of(
            st.sampled_from(list("  \t\r\n.=_?aeéèàçœ€😀")),
            st.characters(blacklist_categories=("Cs",)),
        ),
        max_size=400,
    )
)
def test_any_text_survives_quoted_printable(text: str):
    part = mime._text_part(text, "plain")  # noqa: SLF001
    _qp_lines_are_valid(part)
    decoded = _parse(part).get_payload(decode=True)
    assert decoded == b"\r\n".join(text.encode().splitlines()) + b"\r\n"
    assert _parse(part).get_content() == _parse(_reference_text_part(text, "plain")).get_content()


# -- attachments -----------------------------------------------------------------------------------------

FILENAMES = [
    "courrier.pdf",
    "2026-03-14_CR_DUPONT_Jean.pdf",
    "Compte rendu été 2026.pdf",
    'rapport "final" v2.pdf',
    "back\\slash.pdf",
    "espaces  doubles .pdf",
    "Ordonnance n°12 – Mme Éléonore Lefèvre-Ségur, kinésithérapie post-opératoire (genou droit).pdf",
    "x" * 120 + ".pdf",
    "=?utf-8?q?pas_encod=C3=A9?=.pdf",
    "emoji 😀.png",
    "percent%20and'quote*star.txt",
    "中文文件名.docx",
]


@pytest.mark.parametrize("filename", FILENAMES)
def test_attachment_names_and_bytes_read_back_exactly(filename: str):
    data = bytes(range(256)) * 40 + b"tail"
    raw = _written(headers=[("Subject", "pj")], text="voir pj", attachments=[_source(filename, data)])
    attachment = list(_parse(raw).iter_attachments())[0]
    assert attachment.get_filename() == filename
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == data
    head = mime._attachment_head(_source(filename, data))  # noqa: SLF001
    if "=?" not in filename:  # the former writer's reader decoded what looked like an encoded-word
        reference = _reference_attachment_head(_source(filename, data))
        assert _parse(head).get_filename() == _parse(reference).get_filename()
    for line in _lines(head[:-2]):
        assert line.isascii() and len(line) <= 78, line


@settings(max_examples=300, deadline=None)
@given(filename=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=150))
def test_any_filename_reads_back(filename: str):
    head = mime._attachment_head(_source(filename, b""))  # noqa: SLF001
    # Message.get_filename() strips surrounding whitespace, whatever the writer did.
    assert _parse(head).get_filename() == filename.strip()
    assert all(line.isascii() and len(line) <= 78 for line in _lines(head[:-2]))


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/pdf", "application/pdf"),
        ("image/svg+xml", "image/svg+xml"),
        ("", "application/octet-stream"),
        ("application", "application/octet-stream"),
        ("text/plain; charset=latin-1", "text/plain"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
    ],
)
def test_content_types_as_before(content_type: str, expected: str | None):
    source = _source("f.bin", b"abc", content_type)
    head = mime._attachment_head(source)  # noqa: SLF001
    reference = _reference_attachment_head(source)
    assert _parse(head).get_content_type() == _parse(reference).get_content_type()
    if expected:
        assert _parse(head).get_content_type() == expected


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=3000), chunk=st.integers(min_value=0, max_value=400))
def test_base64_lines_of_76_whatever_the_chunking(data: bytes, chunk: int):
    encoded = b"".join(mime._base64_lines(_source("f", data, chunk=chunk).chunks()))  # noqa: SLF001
    lines = _lines(encoded) if encoded else []
    assert all(len(line) == 76 for line in lines[:-1])
    assert base64.b64decode(b"".join(lines)) == data
    assert encoded == (base64.encodebytes(data).replace(b"\n", b"\r\n"))


# -- whole messages --------------------------------------------------------------------------------------


def test_a_whole_message_reads_back():
    headers = [
        ("From", "Secrétariat Cardiologie Lyon <secretariat.cardiologie@chu-lyon.mssante.fr>"),
        ("To", ", ".join(f"dest{i}@ch-sud.mssante.fr" for i in range(12))),
        ("Subject", "Résultats échographie - DUPONT Élodie [FIN]"),
        ("Date", "Fri, 04 Dec 2026 21:30:00 +0000"),
        ("Message-ID", "<abc.def@chu-lyon.mssante.fr>"),
        ("X-MSS-NIL", "MSS-1"),
    ]
    pdf, png = bytes(range(256)) * 300, b"\x89PNG" + bytes(5000)
    raw = _written(
        headers=headers,
        text=LETTER,
        html="<p>Cher confrère,</p>\n<p>Élodie</p>",
        attachments=[_source("CR échographie.pdf", pdf, chunk=1000), _source("image.png", png, "image/png")],
    )
    msg = _parse(raw)
    assert [(name, str(msg[name])) for name, _ in headers] == headers
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == LETTER + "\n"
    html = msg.get_body(("html",))
    assert (
        html is not None
        and html.get_content().replace("\r\n", "\n") == "<p>Cher confrère,</p>\n<p>Élodie</p>\n"
    )
    attachments = list(msg.iter_attachments())
    assert [(a.get_filename(), a.get_content_type(), a.get_content()) for a in attachments] == [
        ("CR échographie.pdf", "application/pdf", pdf),
        ("image.png", "image/png", png),
    ]
    assert not msg.defects and all(not part.defects for part in msg.walk())
    assert all(len(line) <= 78 for line in _lines(raw))
    assert raw.isascii()


def test_a_message_without_attachments_reads_back():
    raw = _written(headers=[("Subject", "Bonjour")], text="Bonjour à vous")
    msg = _parse(raw)
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().replace("\r\n", "\n") == "Bonjour à vous\n"
    assert not msg.defects
