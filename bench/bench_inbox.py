#!/usr/bin/env python3
"""Inbox benchmark: 1,000,000 French messages in one BAL on PostgreSQL; list pages and search, timed
through the HTTP views as a logged-in user.

1. Generation (bench/datasets/french.py), skipped when the database already holds the same seed and size:
   rows are written with COPY, encrypted exactly as the services write them — a data key per message,
   subject/snippet/body/headers/attachment names sealed with `store.content.seal_text`/`seal_json`,
   the key wrapped for the BAL with `content.wrap_for_mailbox`, and the blind-index tokens of
   `search_index.build_tokens`. To avoid one PostgreSQL round trip per message for the French stemming,
   each vocabulary word's lexemes are asked once (`search_index.lexemes`) and hashed once under the BAL's
   search key; a message's tokens are the union over its words. Before generating, a sample of messages is
   checked against `build_tokens` itself: the composed tokens must be identical.
2. Measures, with Django's test client (in-process: the time is the server's, middleware included, warm
   cache): the inbox's first page, pages reached by following the "Messages plus anciens" link, random
   deep pages (cursor of a random copy, same format as the link's); then a fixed set of searches. Prints
   p50/p95/p99 and EXPLAIN ANALYZE of the list and search queries (bench/out/inbox_plans.txt).

    .venv/bin/python bench/bench_inbox.py            # 1,000,000 messages (generation ~15 min once)
    .venv/bin/python bench/bench_inbox.py --smoke    # 5,000 messages
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from support import ensure_database, machine  # noqa: E402 (bench/ is the script's directory)

OUT = ROOT / "bench" / "out"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_inbox"
SEED = 2026
ADDRESS = "bench.inbox@demo.mssante.fr"
NEWEST = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)


class Table:
    """COPY of one model's rows: every concrete column, the model's defaults for those a row leaves out
    (the schema keeps growing), values prepared by the fields themselves."""

    def __init__(self, model, skip: tuple[str, ...] = ("id",)) -> None:
        from django.db import connection

        self.connection = connection
        self.table = model._meta.db_table
        self.fields = [f for f in model._meta.concrete_fields if f.attname not in skip]
        self.columns = ", ".join(f'"{f.column}"' for f in self.fields)
        self.defaults = {f.attname: f.get_default() for f in self.fields}

    def row(self, values: dict) -> list:
        merged = {**self.defaults, **values}
        return [f.get_db_prep_save(merged[f.attname], self.connection) for f in self.fields]

    def copy(self, cursor, rows: list[dict]) -> None:
        with cursor.copy(f'COPY "{self.table}" ({self.columns}) FROM STDIN') as copy:
            for values in rows:
                copy.write_row(self.row(values))


def the_bal():
    """The benchmark's BAL and its owner (TOTP enrolled, so the second-factor gate lets the client in)."""
    from django.db import transaction

    from apps.accounts.models import UserKind
    from apps.annuaire.identifiers import compute_rpps_key
    from apps.mailboxes.models import Mailbox
    from apps.mailboxes.services import Address, do_create_nominative_mailbox
    from apps.messaging.store.folders import ensure_folders
    from tests.factories import UserFactory, enrol_totp
    from tests.plugins.bals import professional_for

    mailbox = Mailbox.objects.select_related("owner").filter(address=ADDRESS).first()
    if mailbox is None:
        with transaction.atomic():
            owner = UserFactory(
                email="bench.inbox@bench.example",
                first_name="Inès",
                last_name="Benchmark",
                kind=UserKind.PROFESSIONAL,
                national_id="8" + "1000009999" + compute_rpps_key("1000009999"),
            )
            enrol_totp(owner)
            professional_for(owner)
            local, domain = ADDRESS.split("@")
            mailbox = do_create_nominative_mailbox(
                owner=owner, address=Address(local, domain), acting_user=None
            )
    ensure_folders(mailbox.pk)
    return mailbox


# --- Tokens ----------------------------------------------------------------------------------------------


class TokenBook:
    """Each word's blind-index tokens, computed once: `w` tokens of its lexemes and `p` tokens of its
    prefixes, exactly as search_index.build_tokens hashes them under the BAL's search key."""

    def __init__(self, mailbox_key: bytes) -> None:
        from apps.crypto.keys import derive_search_key

        self.key = derive_search_key(mailbox_key)
        self.full: dict[str, frozenset[str]] = {}
        self.prefix: dict[str, frozenset[str]] = {}

    def learn(self, words: set[str]) -> None:
        """Ask PostgreSQL for the lexemes of the words not known yet (one query for all of them)."""
        from django.db import connection

        from apps.messaging.store import search_index

        missing = sorted(w for w in words if w not in self.full)
        if not missing:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT w, tsvector_to_array(to_tsvector('mssante_fr', w)) FROM unnest(%s::text[]) AS w",
                [missing],
            )
            lexemes = dict(cursor.fetchall())
        token = search_index._token  # noqa: SLF001 — the very hash build_tokens stores
        for word in missing:
            self.full[word] = frozenset(token(self.key, "w", lexeme) for lexeme in lexemes[word])
            self.prefix[word] = frozenset(token(self.key, "p", p) for p in search_index.prefixes(word))

    def tokens(self, full_text: list[str], prefix_text: list[str]) -> str:
        from apps.messaging.store.search_index import words

        every = words(" ".join([*full_text, *prefix_text]))
        prefixed = [w for text in prefix_text for w in words(text)]
        self.learn({*every, *prefixed})
        out: set[str] = set()
        for word in every:
            out |= self.full[word]
        for word in prefixed:
            out |= self.prefix[word]
        return " ".join(sorted(out))


def check_tokens_against_service(book: TokenBook, mailbox_key: bytes, letters, count: int = 40) -> None:
    """The composed tokens must equal what the deposit path stores (build_tokens), message for message."""
    from apps.messaging.store.search_index import build_tokens

    for index in range(count):
        letter = letters.letter(index)
        prefix_text = [letter.subject, letter.sender.name, letter.sender.address, *letter.attachment_names]
        expected = build_tokens(mailbox_key, full_text=[letter.body], prefix_text=prefix_text)
        if book.tokens([letter.body], prefix_text) != expected:
            raise SystemExit(f"bench: composed search tokens differ from build_tokens for letter {index}")


# --- Generation ------------------------------------------------------------------------------------------


def received_at(index: int, size: int) -> datetime:
    return NEWEST - SPAN + SPAN * (index / size)


def rows_for(index: int, size: int, letters, book: TokenBook, mailbox_id: int, folder_id: int):
    """The message, copy and attachment rows of message `index`, sealed like the services seal them."""
    from apps.crypto.keys import new_data_key
    from apps.messaging.store import content
    from apps.messaging.store.text import make_snippet

    letter = letters.letter(index)
    rng = random.Random(index)
    pk = uuid.UUID(int=rng.getrandbits(128), version=4)
    key = new_data_key()
    when = received_at(index, size)
    sender = letter.sender
    headers = [["From", f"{sender.name} <{sender.address}>"], ["To", ADDRESS], ["Subject", letter.subject]]
    body = letter.body.encode()
    message = {
        "id": pk, "kind": "normal", "origin": "smtp",
        "message_id": f"<bench-{SEED}-{index}@{sender.address.split('@')[1]}>",
        "sender_address": sender.address, "sender_name": sender.name, "to_addresses": [ADDRESS],
        "cc_addresses": [], "sent_at": when - timedelta(seconds=20), "created_at": when,
        "size": len(body) + 90_000 * len(letter.attachment_names), "sha256": hashlib.sha256(body).hexdigest(),
        "subject_enc": content.seal_text(key, pk, "subject", letter.subject),
        "snippet_enc": content.seal_text(key, pk, "snippet", make_snippet(letter.body)),
        "body_text_enc": content.seal_text(key, pk, "text", letter.body),
        "headers_enc": content.seal_json(key, pk, "headers", headers),
        "has_attachments": bool(letter.attachment_names),
    }  # fmt: skip
    prefix_text = [letter.subject, sender.name, sender.address, *letter.attachment_names]
    unread = index > size - size // 50 and rng.random() < 0.6
    copy = {
        "mailbox_id": mailbox_id, "message_id": pk, "folder_id": folder_id,
        "data_key_wrap": content.wrap_for_mailbox(key, pk, mailbox_id), "received_at": when,
        "is_read": not unread, "is_flagged": rng.random() < 0.02, "is_answered": rng.random() < 0.1,
        "search_tokens": book.tokens([letter.body], prefix_text),
    }  # fmt: skip
    attachments = [
        {"message_id": pk, "position": position,
         "filename_enc": content.seal_text(key, pk, f"filename-{position}", name),
         "content_type": "application/pdf", "size": 90_000,
         "sha256": hashlib.sha256(name.encode()).hexdigest(), "blob": ""}
        for position, name in enumerate(letter.attachment_names)
    ]  # fmt: skip
    return message, copy, attachments


def generate_chunk(job: tuple[int, int, int, int, int]) -> int:
    """Generate messages [start, stop) and COPY them in batches, in this process's own connection."""
    start, stop, size, mailbox_id, folder_id = job
    from django.db import connection

    from apps.mailboxes.keys import mailbox_key
    from bench.datasets.french import Correspondence

    letters = Correspondence(SEED)
    book = TokenBook(mailbox_key(mailbox_id)[1])
    from bench.datasets.french import vocabulary

    book.learn(set(_folded_vocabulary(vocabulary())))
    from apps.messaging.models import Attachment, Message, MessageCopy

    tables = {"message": Table(Message, skip=()), "copy": Table(MessageCopy), "attachment": Table(Attachment)}
    batch = 5000
    for first in range(start, stop, batch):
        rows = [
            rows_for(i, size, letters, book, mailbox_id, folder_id)
            for i in range(first, min(stop, first + batch))
        ]
        with connection.cursor() as cursor:
            raw = cursor.connection  # psycopg 3
            with raw.cursor() as pg, raw.transaction():
                tables["message"].copy(pg, [message for message, _, _ in rows])
                tables["copy"].copy(pg, [copy for _, copy, _ in rows])
                tables["attachment"].copy(pg, [a for _, _, attachments in rows for a in attachments])
    return stop - start


def _folded_vocabulary(vocabulary: list[str]) -> list[str]:
    from apps.messaging.store.search_index import words

    return words(" ".join(vocabulary))


def dataset_state(size: int) -> str | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_dataset (name text PRIMARY KEY, seed int, size int, "
            "done_at timestamptz)"
        )
        cursor.execute("SELECT seed, size FROM bench_dataset WHERE name = 'inbox' AND done_at IS NOT NULL")
        row = cursor.fetchone()
    return None if row is None else f"{row[0]}/{row[1]}"


def generate(size: int, mailbox, processes: int) -> float:
    from django.db import connection, connections

    from apps.messaging.models import FolderRole
    from apps.messaging.store.folders import system_folder

    folder_id = system_folder(mailbox.pk, FolderRole.INBOX).pk
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench_dataset WHERE name = 'inbox'")
        cursor.execute(
            "TRUNCATE messaging_messagecopy, messaging_delivery, messaging_attachment, messaging_message "
            "CASCADE"
        )
        # Indexes are dropped during the load and rebuilt after: far faster than maintaining them per row.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('messaging_messagecopy', 'messaging_message', 'messaging_attachment') "
            "AND indexname NOT LIKE '%%pkey' AND indexdef NOT LIKE 'CREATE UNIQUE%%'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    connections.close_all()
    started = time.perf_counter()
    bounds = [size * i // processes for i in range(processes + 1)]
    jobs = [(bounds[i], bounds[i + 1], size, mailbox.pk, folder_id) for i in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for done in pool.imap_unordered(generate_chunk, jobs):
            print(f"  … {done:,} messages written", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            cursor.execute(definition)
        # VACUUM as autovacuum would soon after a bulk load in production: the visibility map makes the
        # unread counts index-only (without it, 1,000 heap fetches per folder list: +6 ms a page), and the
        # folder rows' UIDNEXT updates leave dead rows behind.
        cursor.execute(
            "VACUUM (ANALYZE) messaging_message, messaging_messagecopy, messaging_attachment, "
            "messaging_folder"
        )
        cursor.execute(
            "INSERT INTO bench_dataset VALUES ('inbox', %s, %s, now()) ON CONFLICT (name) DO UPDATE "
            "SET seed = EXCLUDED.seed, size = EXCLUDED.size, done_at = EXCLUDED.done_at",
            [SEED, size],
        )
    return time.perf_counter() - started


# --- Measures --------------------------------------------------------------------------------------------

NEXT_LINK = re.compile(r'<li class="wm-more">\s*<a [^>]*href="([^"]+)"')


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def timed_get(client, url: str, params: dict | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.get(url, params or {})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"bench: GET {url} {params} answered {response.status_code}")
    return elapsed, response.content.decode()


def measure_lists(client, mailbox, rounds: int) -> dict[str, list[float]]:
    from django.urls import reverse

    from apps.messaging.models import MessageCopy
    from apps.messaging.webmail.selectors import make_cursor

    inbox = reverse("messaging:inbox", args=[mailbox.pk])
    for _ in range(3):
        timed_get(client, inbox)  # warm-up: connection, templates, caches
    first = [timed_get(client, inbox)[0] for _ in range(rounds)]
    followed: list[float] = []
    url = inbox
    for _ in range(min(rounds, 40)):
        elapsed, html = timed_get(client, url)
        followed.append(elapsed)
        found = NEXT_LINK.search(html)
        if found is None:
            break
        url = found.group(1).replace("&amp;", "&")
    if not followed or "after=" not in url:
        raise SystemExit("bench: the inbox page has no 'Messages plus anciens' link")
    # Deep pages: the cursor of a random copy, in the format the view's link carries.
    rng = random.Random(11)
    ids = list(MessageCopy.objects.filter(mailbox=mailbox).values_list("id", flat=True)[:: max(1, rounds)])
    deep_urls = []
    for pk in rng.sample(ids, min(rounds, len(ids))):
        copy = MessageCopy.objects.only("id", "received_at").get(pk=pk)
        deep_urls.append(f"{inbox}?after={make_cursor(copy)}")
    for deep in deep_urls[:5]:
        timed_get(client, deep)
    deep = [timed_get(client, deep)[0] for deep in deep_urls]
    return {
        "inbox, first page": first,
        "inbox, next pages (link followed)": followed,
        "inbox, random deep page": deep,
    }


def measure_panes(client, mailbox, rounds: int) -> dict[str, list[float]]:
    """The reading pane alone (htmx fragment) and as a whole page beside the list, for random messages;
    then the list's 30 s poll while nothing changes (If-None-Match: 304, two queries)."""
    from django.urls import reverse

    from apps.messaging.models import FolderRole, MessageCopy
    from apps.messaging.webmail.selectors import get_system_folder

    rng = random.Random(13)
    ids = list(MessageCopy.objects.filter(mailbox=mailbox).values_list("id", flat=True)[:: max(1, rounds)])
    urls = [reverse("messaging:message-detail", args=[mailbox.pk, pk]) for pk in rng.sample(ids, rounds)]
    pane = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "wm-reader"}
    for url in urls[:5]:
        client.get(url, **pane)  # warm-up (and the first opening's read marks)
    fragment, page = [], []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url, **pane)
        fragment.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"bench: reading pane {url} answered {response.status_code}")
        page.append(timed_get(client, url)[0])
    inbox = get_system_folder(mailbox, FolderRole.INBOX)
    poll_url = reverse("messaging:folder-poll", args=[mailbox.pk, inbox.pk])
    etag = client.get(poll_url).headers["ETag"]
    polls = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(poll_url, HTTP_IF_NONE_MATCH=etag)
        polls.append((time.perf_counter() - started) * 1000)
        if response.status_code != 304:
            raise SystemExit(f"bench: the poll answered {response.status_code} while nothing changed")
    return {
        "reading pane (htmx fragment)": fragment,
        "message page (list beside)": page,
        "list poll, nothing changed (304)": polls,
    }


def search_cases() -> dict[str, str]:
    """Fixed queries: the most frequent body word, a patient surname (about 0.1 % of messages), two
    words, the most frequent sender's surname, a word being typed (prefix), and a word never generated."""
    from bench.datasets.french import Correspondence

    letters = Correspondence(SEED)
    return {
        "common word": letters.words[0],
        "rare word": letters.surnames[len(letters.surnames) // 3],
        "two words": f"{letters.words[2]} {letters.words[40]}",
        "a name": letters.senders[0].name.split()[-1],
        "a prefix": letters.words[5][:4],
        "no hit": "xylophone",
    }


def measure_search(client, mailbox, rounds: int) -> dict[str, list[float]]:
    from django.urls import reverse

    url = reverse("messaging:search", args=[mailbox.pk])
    results = {}
    for label, query in search_cases().items():
        timed_get(client, url, {"q": query})
        results[f"search, {label} « {query} »"] = [
            timed_get(client, url, {"q": query})[0] for _ in range(rounds)
        ]
    return results


def explain(client, mailbox) -> str:
    """EXPLAIN ANALYZE of the copy queries the list and search views run (captured from the views)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    out = []
    cases = [
        ("inbox first page", reverse("messaging:inbox", args=[mailbox.pk]), {}),
        *[
            (f"search {label}", reverse("messaging:search", args=[mailbox.pk]), {"q": q})
            for label, q in search_cases().items()
        ],
    ]
    with CaptureQueriesContext(connection) as captured:
        html = client.get(cases[0][1]).content.decode()
    found = NEXT_LINK.search(html)
    if found:
        cases.insert(1, ("inbox next page", found.group(1).replace("&amp;", "&"), {}))
    for label, url, params in cases:
        with CaptureQueriesContext(connection) as captured:
            client.get(url, params)
        for query in captured.captured_queries:
            sql = query["sql"]
            # The page's list query, and every step of a search (recent window, then the GIN index).
            if sql.startswith('SELECT "messaging_messagecopy"."id"') or "@@" in sql:
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                out.append(f"### {label} ({url} {params})\n{sql}\n{plan}\n")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="5,000 messages: proves the benchmark runs")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100, help="timed requests per case")
    parser.add_argument("--processes", type=int, default=2, help="generator processes")
    options = parser.parse_args()
    size, rounds = (5000, 15) if options.smoke else (options.size, options.rounds)
    url = os.environ.get("BENCH_INBOX_DATABASE_URL", DEFAULT_DB + ("_smoke" if options.smoke else ""))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MSSANTE_TESTING": "1",
        "TEST_REDIS_DB": "9",
        "CELERY_QUEUE_PREFIX": "bench-inbox-",
        "DB_CONN_MAX_AGE": "60",
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MSSANTE_DEV", None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    load = machine()
    ensure_database(url, env)
    import django

    django.setup()
    from django.test import Client

    from apps.mailboxes.keys import mailbox_key
    from bench.datasets.french import Correspondence

    mailbox = the_bal()
    key = mailbox_key(mailbox.pk)[1]
    generated = dataset_state(size)
    report = [f"- Machine: {load}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"]
    if generated != f"{SEED}/{size}":
        letters = Correspondence(SEED)
        book = TokenBook(key)
        check_tokens_against_service(book, key, letters)
        print(f"bench: generating {size:,} messages (seed {SEED}) …", flush=True)
        seconds = generate(size, mailbox, options.processes)
        report.append(f"- Generated {size:,} messages in {seconds:.0f} s (COPY, indexes rebuilt after)")
    else:
        report.append(f"- Dataset reused: {size:,} messages, seed {SEED} (already generated)")
    command = "bench/bench_inbox.py" + (" --smoke" if options.smoke else "")
    report.append(
        f"- Command: `.venv/bin/python {command}`; one BAL, {size:,} messages; Django test client logged in "
        "as the BAL's owner (in-process: server time incl. middleware, warm cache)"
    )
    client = Client()
    client.force_login(mailbox.owner)
    results = {
        **measure_lists(client, mailbox, rounds),
        **measure_panes(client, mailbox, rounds),
        **measure_search(client, mailbox, rounds),
    }
    report += ["", "| Request | n | p50 | p95 | p99 | target p95 |", "|---|---:|---:|---:|---:|---:|"]
    for label, values in results.items():
        target = "300 ms" if label.startswith("search") else "20 ms" if "poll" in label else "50 ms"
        report.append(
            f"| {label} | {len(values)} | {statistics.median(values):.1f} ms | "
            f"**{percentile(values, 0.95):.1f} ms** | {percentile(values, 0.99):.1f} ms | {target} |"
        )
    lists = [v for label, values in results.items() if not label.startswith("search") for v in values]
    searches = [v for label, values in results.items() if label.startswith("search") for v in values]
    report.append(
        f"| **all list pages** | {len(lists)} | {statistics.median(lists):.1f} ms | "
        f"**{percentile(lists, 0.95):.1f} ms** | {percentile(lists, 0.99):.1f} ms | 50 ms |"
    )
    report.append(
        f"| **all searches** | {len(searches)} | {statistics.median(searches):.1f} ms | "
        f"**{percentile(searches, 0.95):.1f} ms** | {percentile(searches, 0.99):.1f} ms | 300 ms |"
    )
    text = "\n".join(report)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = "_smoke" if options.smoke else ""
    (OUT / f"inbox{suffix}.md").write_text(text + "\n", encoding="utf-8")
    plans = explain(client, mailbox)
    (OUT / f"inbox_plans{suffix}.txt").write_text(plans, encoding="utf-8")
    print(f"plans: bench/out/inbox_plans{suffix}.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
