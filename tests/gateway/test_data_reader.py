"""The chunked DATA reader that replaces aiosmtpd's line-by-line one (pure asyncio, no network)."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from apps.gateway.replies import ascii_text
from apps.gateway.server import read_data


def read(*chunks: bytes, limit: int = 1000, eof: bool = False) -> tuple[bytes | None, bytes]:
    """Feed `chunks` to a StreamReader; returns what read_data gave and what is left for the next command."""

    async def run() -> tuple[bytes | None, bytes]:
        reader = asyncio.StreamReader(limit=1001)
        for chunk in chunks:
            reader.feed_data(chunk)
        if eof:
            reader.feed_eof()
        payload = await read_data(reader, limit)
        reader.feed_eof()
        return payload, await reader.read()

    # In a thread of its own: where Playwright's sync API is open in this process, the main thread already
    # counts as running a loop and asyncio.run() would refuse.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_it_reads_up_to_the_end_marker_and_leaves_the_next_command():
    assert read(b"Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n") == (b"Subject: a\r\n\r\nbody\r\n", b"QUIT\r\n")


def test_it_reads_an_empty_message():
    assert read(b".\r\n") == (b"", b"")


def test_it_removes_dot_stuffing_including_on_the_first_line():
    assert read(b"..first\r\nmiddle\r\n..\r\n...x\r\n.\r\n")[0] == b".first\r\nmiddle\r\n.\r\n..x\r\n"


def test_it_finds_the_end_marker_split_across_chunks():
    assert read(b"a\r\nb\r", b"\n.", b"\r", b"\n")[0] == b"a\r\nb\r\n"


def test_a_dot_inside_a_line_is_not_an_end_marker():
    assert read(b"a.\r\nb\r\n.\r\n")[0] == b"a.\r\nb\r\n"


def test_it_answers_none_over_the_limit_but_still_consumes_the_whole_message():
    payload, rest = read(b"x" * 600 + b"\r\n", b"y" * 600 + b"\r\n", b".\r\nNOOP\r\n", limit=1000)

    assert payload is None
    assert rest == b"NOOP\r\n"


def test_a_message_of_exactly_the_limit_is_accepted():
    body = b"z" * 998 + b"\r\n"
    assert read(body + b".\r\n", limit=1000)[0] == body


def test_a_connection_closed_during_data_is_an_error():
    with pytest.raises(ConnectionResetError):
        read(b"partial\r\n", eof=True)


def test_replies_are_folded_to_printable_ascii():
    assert ascii_text("La boîte « à » est\u00a0pleine —\r\nfin") == 'La boite "a" est pleine - fin'
