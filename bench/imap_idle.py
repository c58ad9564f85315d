"""200 concurrent IDLE sessions while deposits arrive (bench/bench_imap.py, issue 16). Not a benchmark script.

The sessions run in a child process (asyncio, TLS, one connection each: LOGIN, SELECT INBOX, IDLE) so the
clients do not share the server's interpreter; they note the monotonic time of every `* n EXISTS`.
Messages arrive at a fixed rate (sealed beforehand, like the services seal them); the parent deposits them
the way the batch depositor does — whatever has arrived, in one transaction that reserves the folder's UIDs
with `apps.messaging.store.uids.reserve` and writes the rows — and notes each commit's time. For every
(message, session): push latency = first `EXISTS >= base + k` read − commit of message k; end-to-end =
the same read − the message's arrival.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import ssl
import time
from typing import Any

EXISTS = re.compile(rb"^\* (\d+) EXISTS")


async def _session(port: int, cafile: str, login: str, secret: str, seen: list, ready: asyncio.Queue,
                   stop: asyncio.Event) -> int:  # fmt: skip
    context = ssl.create_default_context(cafile=cafile)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )

    async def command(tag: bytes, line: bytes) -> list[bytes]:
        writer.write(tag + b" " + line + b"\r\n")
        await writer.drain()
        lines = []
        while True:
            got = await reader.readline()
            if not got:
                raise ConnectionError("closed")
            lines.append(got)
            if got.startswith(tag + b" "):
                if not got.startswith(tag + b" OK"):
                    raise RuntimeError(got.decode(errors="replace"))
                return lines

    await reader.readline()  # greeting
    await command(b"a", b'LOGIN "%s" "%s"' % (login.encode(), secret.encode()))
    base = 0
    for line in await command(b"b", b"SELECT INBOX"):
        match = EXISTS.match(line)
        if match:
            base = int(match.group(1))
    writer.write(b"c IDLE\r\n")
    await writer.drain()
    if not (await reader.readline()).startswith(b"+"):
        raise RuntimeError("IDLE refused")
    await ready.put(base)
    reading = asyncio.ensure_future(reader.readline())
    stopping = asyncio.ensure_future(stop.wait())
    while True:
        done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if reading in done:
            line = reading.result()
            if not line:
                break
            match = EXISTS.match(line)
            if match:
                seen.append((int(match.group(1)), time.monotonic()))
            reading = asyncio.ensure_future(reader.readline())
            continue
        break
    reading.cancel()
    writer.write(b"DONE\r\nd LOGOUT\r\n")
    with_timeout = asyncio.wait_for(writer.drain(), 5)
    try:
        await with_timeout
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 5)
    except Exception:  # noqa: BLE001 - closing at the end of the measure
        writer.transport.abort()
    return base


def _clients(port: int, cafile: str, login: str, secret: str, sessions: int, pipe: Any) -> None:
    async def run() -> None:
        ready: asyncio.Queue = asyncio.Queue()
        stop = asyncio.Event()
        seen: list[list] = [[] for _ in range(sessions)]
        tasks = []
        for index in range(sessions):  # a few at a time: logins are what they are on a busy machine
            tasks.append(
                asyncio.ensure_future(_session(port, cafile, login, secret, seen[index], ready, stop))
            )
            if index % 10 == 9:
                await asyncio.sleep(0.05)
        bases = []
        for _ in range(sessions):
            getter = asyncio.ensure_future(ready.get())
            done, _ = await asyncio.wait({getter, *tasks}, timeout=300, return_when=asyncio.FIRST_COMPLETED)
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                getter.cancel()
                raise failed[0].exception()  # type: ignore[misc]
            if getter not in done:
                getter.cancel()
                continue
            bases.append(getter.result())
        pipe.send(("ready", len(bases), min(bases) if bases else 0, max(bases) if bases else 0))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, pipe.recv)  # the parent says when the deposits are over
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        pipe.send(("seen", seen))

    try:
        asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        pipe.send(("error", repr(exc)))


def deposit_batch(batch: list[tuple], folder_id: int, tables: dict) -> list[int]:
    """What the batch depositor does with the messages waiting for one folder: their UIDs reserved by one
    `UPDATE … RETURNING` and their rows written, in ONE transaction."""
    from django.db import connection, transaction

    from apps.messaging.store import uids

    with transaction.atomic():
        first = uids.reserve([folder_id], [len(batch)])[folder_id]
        for offset, (_message, copy, _attachments) in enumerate(batch):
            copy["uid"] = first + offset
        with connection.cursor() as cursor:
            raw = cursor.connection
            with raw.cursor() as pg:
                tables["message"].copy(pg, [message for message, _c, _a in batch])
                tables["copy"].copy(pg, [copy for _m, copy, _a in batch])
                attachments = [a for _m, _c, more in batch for a in more]
                if attachments:
                    tables["attachment"].copy(pg, attachments)
    return [first + offset for offset in range(len(batch))]


def measure(port: int, cafile: str, login: str, secret: str, mailbox, folder_id: int, size: int,
            sessions: int = 200, rate: float = 50.0, seconds: float = 20.0) -> dict[str, Any]:  # fmt: skip
    """Run the measure; returns latencies (ms) and counts."""
    import bench_inbox
    from django.db import connection

    from apps.mailboxes.keys import mailbox_key
    from apps.messaging.models import Attachment, Message, MessageCopy
    from bench.datasets.french import Correspondence

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_clients, args=(port, cafile, login, secret, sessions, child), daemon=True
    )
    process.start()
    try:
        status = parent.recv() if parent.poll(600) else ("error", "sessions not ready in 600 s")
        if status[0] != "ready":
            raise RuntimeError(f"IDLE clients: {status[1]}")
        _, ready, base_low, base_high = status
        if base_low != base_high:
            raise RuntimeError("IDLE clients saw different message counts at SELECT")
        letters = Correspondence(bench_inbox.SEED)
        book = bench_inbox.TokenBook(mailbox_key(mailbox.pk)[1])
        from bench.datasets.french import vocabulary

        book.learn(set(bench_inbox._folded_vocabulary(vocabulary())))
        tables = {
            "message": bench_inbox.Table(Message, skip=()),
            "copy": bench_inbox.Table(MessageCopy),
            "attachment": bench_inbox.Table(Attachment),
        }
        total = int(rate * seconds)
        first_index = size + 10_000_000 + int(time.time()) % 1_000_000  # message ids unlike the dataset's
        # Sealed beforehand (as the depositor receives sealed rows from the ingest): the loop only commits.
        prepared = [
            bench_inbox.rows_for(first_index + k, size, letters, book, mailbox.pk, folder_id)
            for k in range(total)
        ]
        # Messages arrive at `rate`; the depositor takes whatever has arrived (one transaction per batch,
        # as the batch depositor does), so a slow commit makes the next batch bigger, not the rate lower.
        commits: list[tuple[int, float, float]] = []  # (uid, arrival, commit)
        started = time.monotonic()
        done = 0
        while done < total:
            arrived = min(total, int((time.monotonic() - started) * rate) + 1)
            if arrived <= done:
                time.sleep(max(0.0, started + done / rate - time.monotonic()))
                continue
            batch = prepared[done:arrived]
            uids = deposit_batch(batch, folder_id, tables)
            committed = time.monotonic()
            commits += [(uid, started + (done + i) / rate, committed) for i, uid in enumerate(uids)]
            done = arrived
        achieved = total / (time.monotonic() - started)
        batches = len({committed for _uid, _arrival, committed in commits})
        commits.sort()  # UIDs become visible in order: the j-th smallest is message number base + j
        time.sleep(3)  # late pushes
        parent.send("stop")
        status = parent.recv() if parent.poll(120) else ("error", "no results in 120 s")
        if status[0] != "seen":
            raise RuntimeError(f"IDLE clients: {status[1]}")
        latencies: list[float] = []  # commit -> EXISTS read: the push itself
        end_to_end: list[float] = []  # arrival -> EXISTS read: the depositor's batching included
        missed = 0
        for seen in status[1]:
            pointer = 0
            for k, (_uid, arrival, committed) in enumerate(commits, start=1):
                wanted = base_low + k
                while pointer < len(seen) and seen[pointer][0] < wanted:
                    pointer += 1
                if pointer == len(seen):
                    missed += 1
                    continue
                latencies.append(max(0.0, seen[pointer][1] - committed) * 1000)
                end_to_end.append(max(0.0, seen[pointer][1] - arrival) * 1000)
        connection.close()
        return {"sessions": ready, "deposits": total, "rate": achieved, "latencies": latencies,
                "end_to_end": end_to_end, "batches": batches, "missed": missed}  # fmt: skip
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(10)


def first_uid(folder_id: int) -> int:
    """The folder's UIDNEXT before the measure: every copy from it on was deposited by the measure."""
    from apps.messaging.models import Folder

    return int(Folder.objects.values_list("uidnext", flat=True).get(pk=folder_id))


def remove_deposits(folder_id: int, first: int) -> None:
    """Leave the dataset as generated: the copies (and their messages) deposited by the measure go."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "WITH gone AS (DELETE FROM messaging_messagecopy WHERE folder_id = %s AND uid >= %s "
            "RETURNING message_id) DELETE FROM messaging_attachment WHERE message_id IN (SELECT message_id "
            "FROM gone)",
            [folder_id, first],
        )
        cursor.execute(
            "DELETE FROM messaging_message m WHERE NOT EXISTS (SELECT 1 FROM messaging_messagecopy c "
            "WHERE c.message_id = m.id) AND m.created_at > %s",
            [_newest()],
        )
    with connection.cursor() as cursor:
        # The deposits' tokens went to the blind index's pending list (GIN fast update), which every later
        # search reads in full and which makes the planner avoid the index until autovacuum merges it:
        # merged now, as the dataset was generated (a next run's SEARCH must not pay for this one's).
        cursor.execute("SELECT gin_clean_pending_list('copy_search_gin')")


def _newest():  # noqa: ANN202
    import bench_inbox

    return bench_inbox.NEWEST
