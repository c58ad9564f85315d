"""The IMAP protocol layer on its own: tokens, commands, sequence sets, FETCH items, SEARCH keys, the
response writer (checked with imapclient's response parser) and modified UTF-7."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.imap import utf7
from apps.imap.commands import CommandError, parse_command
from apps.imap.items import FetchAtt, SearchKey, Section, SequenceSet
from apps.imap.responses import Literal8, Raw, encode, fetch_response, status, untagged
from apps.imap.tokens import Atom, String, literal_at_end, tokenize
from tests.imap.wire import parse_untagged


def test_utf7_round_trips_the_french_folder_name() -> None:
    name = "Comptes rendus – été"
    encoded = utf7.encode(name)
    assert encoded == "Comptes rendus &IBM- &AOk-t&AOk-"
    assert utf7.decode(encoded) == name
    assert utf7.encode("R&D") == "R&-D" and utf7.decode("R&-D") == "R&D"


@given(st.text(max_size=40))
def test_utf7_round_trips_any_text(name: str) -> None:
    encoded = utf7.encode(name)
    assert encoded.isascii()
    assert utf7.decode(encoded) == name


@pytest.mark.parametrize("bad", ["&AOk", "&AO!-", "caf\u00e9", "&AGE-"])
def test_utf7_refuses_malformed_names(bad: str) -> None:
    with pytest.raises(utf7.Utf7Error):
        utf7.decode(bad)


def test_tokens_quoted_literal_and_sections() -> None:
    data = b'a1 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> FLAGS) "x \\"y\\"" {3}\r\nabc\r\n'
    tokens = tokenize(data)
    assert tokens[:3] == [Atom("a1"), Atom("FETCH"), Atom("1:*")]
    assert tokens[3] == [Atom("BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>"), Atom("FLAGS")]
    assert tokens[4] == String(b'x "y"')
    assert tokens[5] == String(b"abc", literal=True)
    assert literal_at_end(b"a APPEND INBOX {310+}\r\n") == (310, True)
    assert literal_at_end(b"a APPEND INBOX {310}\r\n") == (310, False)
    assert literal_at_end(b"a NOOP\r\n") is None


def test_commands_are_typed() -> None:
    fetch = parse_command(b"7 UID FETCH 4:9,12 (UID FLAGS BODY[1.2.MIME] BINARY.PEEK[2]<10.20> RFC822.SIZE)")
    assert fetch.uid and fetch.name == "FETCH"
    assert fetch.args["set"] == SequenceSet(((4, 9), (12, 12)))
    atts = fetch.args["atts"]
    assert atts[2] == FetchAtt("BODY", Section((1, 2), "MIME"))
    assert atts[3] == FetchAtt("BINARY", Section((2,)), (10, 20), peek=True)
    assert [a.reads_content for a in atts] == [False, False, True, True, False]
    assert atts[3].response_name() == "BINARY[2]<10>"

    search = parse_command(b'a SEARCH CHARSET UTF-8 OR FROM "dupont" NOT SEEN (SINCE 1-Feb-2026 UID 1:*)')
    assert search.args["program"] == SearchKey(
        "AND",
        (
            SearchKey("OR", (SearchKey("FROM", ("dupont",)), SearchKey("NOT", (SearchKey("SEEN"),)))),
            SearchKey(
                "AND",
                (SearchKey("SINCE", (dt.date(2026, 2, 1),)), SearchKey("UID", (SequenceSet(((1, None),)),))),
            ),
        ),
    )
    store = parse_command(b"s STORE 1:3 +FLAGS.SILENT (\\seen $Label)")
    assert store.args == {
        "set": SequenceSet(((1, 3),)),
        "mode": "add",
        "silent": True,
        "flags": ("\\Seen", "$Label"),
    }
    append = parse_command(b'b APPEND "Brouillons" (\\Draft) "05-Dec-2026 10:00:00 +0100" {5+}\r\nhello')
    assert append.args["message"] == b"hello" and append.args["flags"] == ("\\Draft",)
    listing = parse_command(
        b'l LIST (SPECIAL-USE) "" ("INBOX" "Comptes rendus &IBM- &AOk-t&AOk-") RETURN (CHILDREN)'
    )
    assert listing.args["patterns"] == ["INBOX", "Comptes rendus – été"]
    assert listing.args["selection"] == ["SPECIAL-USE"] and listing.args["returns"] == ["CHILDREN"]
    assert parse_command(b'i ID ("name" "Thunderbird" "version" NIL)').args["params"] == {
        "name": "Thunderbird",
        "version": "",
    }


@pytest.mark.parametrize(
    ("line", "tag"),
    [
        (b"a1 FETCH 1:* (FLAGS", "a1"),
        (b"a2 FROB", "a2"),
        (b'a3 LOGIN "unterminated', "a3"),
        (b"a4 FETCH 0 FLAGS", "a4"),
        (b"a5 SEARCH FOOBAR", "a5"),
        (b"a6 FETCH 1 BODY[1.BOGUS]", "a6"),
        (b"a7 UID LOGIN x y", "a7"),
        (b"a8 STORE 1 FLAGS (\\Recent)", "a8"),
        (b"a9 APPEND INBOX {3}\r\nab", "a9"),
        (b"", None),
    ],
)
def test_bad_commands_raise_with_their_tag(line: bytes, tag: str | None) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(line)
    assert caught.value.tag == tag


def test_sequence_sets_resolve_star() -> None:
    seq = SequenceSet.parse("5:2,9:*")
    assert list(seq.bounds(12)) == [(2, 5), (9, 12)]
    assert seq.contains(10, 12) and not seq.contains(7, 12)
    assert str(seq) == "5:2,9:*"


# ---- fuzzing ---------------------------------------------------------------------------------------------
numbers = st.integers(min_value=1, max_value=4_294_967_295)
bounds = st.one_of(numbers.map(str), st.just("*"))
seq_sets = st.lists(st.tuples(bounds, st.none() | bounds), min_size=1, max_size=4).map(
    lambda ranges: ",".join(a if b is None else f"{a}:{b}" for a, b in ranges)
)
simple_atts = st.sampled_from(["FLAGS", "UID", "ENVELOPE", "INTERNALDATE", "RFC822.SIZE", "BODYSTRUCTURE"])
sections = st.one_of(
    st.just(""),
    st.sampled_from(["HEADER", "TEXT", "HEADER.FIELDS (FROM SUBJECT)", "HEADER.FIELDS.NOT (X-A)"]),
    st.lists(st.integers(1, 9), min_size=1, max_size=3).map(lambda p: ".".join(map(str, p))),
)
section_atts = st.builds(
    lambda kind, sec, partial: f"{kind}[{sec}]{partial}",
    st.sampled_from(["BODY", "BODY.PEEK"]),
    sections,
    st.sampled_from(["", "<0>", "<10.200>"]),
)
quoted_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


search_leaf = st.one_of(
    st.sampled_from(["ALL", "SEEN", "UNSEEN", "FLAGGED", "DELETED", "ANSWERED", "DRAFT", "NEW", "OLD"]),
    st.builds(
        lambda k, v: f"{k} {_quote(v)}",
        st.sampled_from(["FROM", "SUBJECT", "TEXT", "BODY", "TO"]),
        quoted_text,
    ),
    st.builds(lambda k, n: f"{k} {n}", st.sampled_from(["LARGER", "SMALLER"]), st.integers(0, 10**9)),
    st.builds(lambda k: f"{k} 3-Mar-2026", st.sampled_from(["SINCE", "BEFORE", "ON", "SENTSINCE"])),
    seq_sets.map(lambda s: f"UID {s}"),
    seq_sets,
    quoted_text.map(lambda v: f"HEADER Message-ID {_quote(v)}"),
)
search_keys = st.recursive(
    search_leaf,
    lambda inner: st.one_of(
        inner.map(lambda k: f"NOT {k}"),
        st.tuples(inner, inner).map(lambda ab: f"OR {ab[0]} {ab[1]}"),
        st.lists(inner, min_size=1, max_size=3).map(lambda ks: "(" + " ".join(ks) + ")"),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(seq_sets, st.lists(st.one_of(simple_atts, section_atts), min_size=1, max_size=5), st.booleans())
def test_fuzz_fetch_commands_parse(seq: str, atts: list[str], uid: bool) -> None:
    line = f"t1 {'UID ' if uid else ''}FETCH {seq} ({' '.join(atts)})".encode()
    command = parse_command(line)
    assert SequenceSet.parse(str(command.args["set"])) == SequenceSet.parse(seq)
    assert len(command.args["atts"]) == len(atts)
    for att in command.args["atts"]:
        if att.section is not None:  # the name echoed in the response parses back to the same item
            assert (
                parse_command(f"t FETCH 1 {att.response_name()}".encode()).args["atts"][0].section
                == att.section
            )


@settings(max_examples=300, deadline=None)
@given(st.lists(search_keys, min_size=1, max_size=3))
def test_fuzz_search_programs_parse(keys: list[str]) -> None:
    command = parse_command(f"t2 UID SEARCH {' '.join(keys)}".encode())
    assert isinstance(command.args["program"], SearchKey)


def _parsed_or_refused(data: bytes) -> None:
    """Any input either parses into a well-formed command or raises CommandError (nothing else)."""
    try:
        command = parse_command(data)
    except CommandError as exc:
        assert exc.tag is None or (exc.tag and " " not in exc.tag)
    else:
        assert command.tag and command.name.isupper() and isinstance(command.args, dict)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_arbitrary_bytes_parse_or_raise_command_error(data: bytes) -> None:
    _parsed_or_refused(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["a", "FETCH", "1:*", "(", ")", " ", '"', "\\", "{3}\r\n", "{2+}\r\n", "[", "]", "<0.5>"]
            ),
            quoted_text,
        ),
        max_size=25,
    )
)
def test_fuzz_token_soup_parses_or_raises_command_error(pieces: list[str]) -> None:
    _parsed_or_refused("".join(pieces).encode())


# ---- responses -------------------------------------------------------------------------------------------
def test_responses_parse_with_imapclient() -> None:
    line = untagged(Raw("LIST"), Raw("(\\HasNoChildren \\Sent)"), "/", utf7.encode("Comptes rendus – été"))
    parsed = parse_untagged(line)
    assert parsed[0] == b"LIST" and parsed[3] == b"Comptes rendus &IBM- &AOk-t&AOk-"
    fetch = fetch_response(
        3,
        [
            ("UID", 42),
            ("FLAGS", Raw("(\\Seen)")),
            ("ENVELOPE", [None, "Objet « été »", None, None, None, None, None, None, None, "<id@x>"]),
            ("BODY[]", b"Subject: x\r\n\r\nbody"),
        ],
    )
    result = parse_untagged(fetch)
    assert result[42][b"FLAGS"] == (b"\\Seen",)
    assert result[42][b"BODY[]"] == b"Subject: x\r\n\r\nbody"
    assert result[42][b"ENVELOPE"].subject == "Objet « été »".encode()
    assert status("a1", "NO", "Accès refusé à « été »", "AUTHENTICATIONFAILED") == (
        b"a1 NO [AUTHENTICATIONFAILED] Acces refuse a ' ete '\r\n"
    )


@given(
    st.recursive(
        st.one_of(st.none(), st.integers(0, 2**32), st.binary(max_size=30), st.text(max_size=30)),
        lambda inner: st.lists(inner, max_size=4),
        max_leaves=10,
    )
)
def test_fuzz_encoded_values_tokenize_back(value: object) -> None:
    encoded = encode(value)
    tokens = tokenize(b"* " + encoded)
    assert len(tokens) == 2
    assert encode(Literal8(b"\x00\x01")) == b"~{2}\r\n\x00\x01"
