"""SEARCH programs -> database filters (database thread).

TEXT, BODY, SUBJECT and FROM are answered from the blind index (apps.messaging.store.search_index, ADR 0008):
whole words (with their French stems) and word prefixes, over the subject, body, sender and attachment
names together — not RFC 3501's substring match within one field, which would need the content in clear.
Every other key is exact: flags, dates, sizes, UID and message-number sets, TO/CC/BCC on the envelope,
HEADER Message-ID (and any HEADER on the few headers the database keeps).

A program of words only, each with a dense token in a large folder (apps/messaging/store/dense_tokens.py),
is answered as the session's view minus the copies lacking a word; a plain search finding a word in most
of such a folder asks for the pass that chooses those tokens.
"""

from __future__ import annotations

import datetime as dt
import logging
from array import array
from itertools import chain
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.imap.items import SearchKey, SequenceSet
from apps.imap.uidmap import View
from apps.mailboxes.keys import mailbox_key
from apps.messaging.models import CopyRead, MessageCopy
from apps.messaging.store import dense_tokens, search_index

logger = logging.getLogger(__name__)
_BLIND = {"TEXT", "BODY", "SUBJECT", "FROM"}
_FLAG_FIELDS = {
    "ANSWERED": ("is_answered", True),
    "FLAGGED": ("is_flagged", True),
    "DELETED": ("imap_deleted", True),
}
_UNFLAG = {
    "UNANSWERED": "ANSWERED",
    "UNFLAGGED": "FLAGGED",
    "UNDELETED": "DELETED",
    "UNSEEN": "SEEN",
    "UNDRAFT": "DRAFT",
}


class Context:
    def __init__(
        self, folder_id: int, mailbox_id: int, user_id: int, organisational: bool, view: View
    ) -> None:
        self.folder_id, self.mailbox_id, self.user_id = folder_id, mailbox_id, user_id
        self.organisational, self.view = organisational, view
        self.annotations: dict[str, Any] = {}
        self._groups: dict[str, list[list[str]]] = {}

    def word_groups(self, text: str) -> list[list[str]]:
        """The blind-index token groups of `text` (a database round trip per word), worked out once per
        search: the dense path and the plain one both need them."""
        if text not in self._groups:
            _version, key = mailbox_key(self.mailbox_id)
            self._groups[text] = search_index.query_groups(key, text)
        return self._groups[text]


# A word found in most of a large folder: the planner then prefers reading the whole folder (a sequential
# scan, or the folder's btree index and a filter), which opens every copy's TOASTed tokens to test them —
# 265 ms at 100,000 copies against 38 ms through the blind index's bitmap, 16 ms against 2 ms at 5,000 (it
# does not count the opening of the tokens). For a search with a blind-index word, this statement only:
# no sequential or plain index scan, an operator priced at what testing a row's tokens costs (40 times the
# default, which makes the GIN index condition win over filtering every row of the folder), at most one
# parallel worker (the planner gives it to a search visiting most of the heap — two common words at a
# million copies: 246 -> 211 ms — never to a rare word's, whose start-up it would be), no JIT compilation
# (75 ms for a plan that costly: a seventh of a million-row answer), and the memory that keeps a
# million-entry bitmap exact (a lossy one would test every row's tokens again).
BLIND_SETTINGS = (
    "SET LOCAL work_mem = '64MB'; SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; "
    "SET LOCAL cpu_operator_cost = 0.1; SET LOCAL max_parallel_workers_per_gather = 1; SET LOCAL jit = off"
)


def _matching(context: Context, program: SearchKey) -> Any:
    condition = _q(context, program)
    # The BAL in the filter lets the blind index (GIN on BAL and tokens) narrow the search to this BAL.
    query = MessageCopy.objects.filter(
        mailbox_id=context.mailbox_id, folder_id=context.folder_id, uid__lte=context.view.last_uid
    )
    if context.annotations:
        query = query.annotate(**context.annotations)
    # No per-UID check against the view: UIDs become visible in increasing order (the deposit holds the
    # folder row until commit), so every copy with uid <= the view's last UID is in the view, unless it was
    # expunged since — and then the database no longer returns it.
    return query.filter(condition).filter(uid__isnull=False).values_list("uid", flat=True)


def search(context: Context, program: SearchKey) -> list[int]:
    """The UIDs (ascending) of the selected folder's messages matching `program`, in the session's view."""
    if connection.vendor != "postgresql":
        return [int(uid) for uid in _matching(context, program).order_by("uid")]
    runs = _dense_runs(context, program)
    if runs is not None:
        return [uid for run in runs for uid in run]
    joined = search_joined(context, program)
    return [int(uid) for uid in joined.split()] if joined else []


def joins_in_database() -> bool:
    return connection.vendor == "postgresql"


def search_joined(context: Context, program: SearchKey) -> bytes:
    """PostgreSQL: the matching UIDs ascending as the text of a SEARCH answer (`1 2 5`), joined by the
    server: a million matches are one value of ~7 MB, not a million rows and Python integers. The
    statement is planned for the blind index when it has a word (`BLIND_SETTINGS`)."""
    runs = _dense_runs(context, program)
    if runs is not None:
        return _joined(runs)
    sql, params = _matching(context, program).query.sql_with_params()
    settings = f"{BLIND_SETTINGS};\n" if context.annotations else ""  # a blind-index word in the program
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            # The integers sorted, then joined: 400 ms for a million matches; string_agg(text ORDER BY
            # uid) sorted the texts with them, 600 ms.
            f"{settings}SELECT array_to_string(array_agg(found.uid ORDER BY found.uid), ' ') "  # noqa: S608
            f"FROM ({sql}) found",
            params,
        )
        while cursor.description is None:  # past the SET statements' empty results
            if not cursor.nextset():
                break
        row = cursor.fetchone()
    joined = (row[0] or "").encode("ascii") if row else b""
    if context.annotations and _mostly(context.view.count, joined):
        _suggest_dense_tokens(context.folder_id)
    return joined


SUGGEST_EVERY = 6 * 3600  # seconds between two passes a search asks for, per folder


def _suggest_dense_tokens(folder_id: int) -> None:
    """A word found in most of a large folder: choose the folder's dense tokens soon (at most once every
    `SUGGEST_EVERY` per folder) rather than at the next daily pass."""
    from django.core.cache import cache

    from apps.messaging.tasks import index_folder_dense_tokens

    try:
        if cache.add(f"dense-tokens-suggested:{folder_id}", 1, SUGGEST_EVERY):
            index_folder_dense_tokens.delay(folder_id)
    except Exception:  # noqa: BLE001 - Redis unreachable: the search has its answer; the daily pass remains
        logger.warning("dense tokens: the pass for folder %s could not be queued", folder_id, exc_info=True)


def _mostly(folder_size: int, joined: bytes) -> bool:
    """A word in most of a folder large enough for dense tokens (the answer's UIDs counted by spaces)."""
    return folder_size >= dense_tokens.min_copies() and (
        joined.count(b" ") + 1 >= dense_tokens.CHOOSE_SHARE * folder_size
    )


def _dense_runs(context: Context, program: SearchKey) -> list[array] | None:
    """A program of blind-index words, each having a dense token in this folder
    (apps/messaging/store/dense_tokens.py), and at most UNDELETED (Thunderbird adds it to every search):
    the view's UIDs minus the copies lacking a word (and those marked \\Deleted), as runs of the view's
    array. None when the program is anything else (the database answers it)."""
    if context.view.count < dense_tokens.min_copies():  # no pass chooses tokens there: no round trip
        return None
    undeleted: list[bool] = []
    groups = _word_groups(context, program, undeleted)
    if not groups:
        return None
    ready = dense_tokens.ready_tokens(context.folder_id)
    if not ready:
        return None
    spec: list[tuple[list[int], str | None]] = []
    for group in groups:
        dense = [ready[token] for token in group if token in ready]
        if not dense:
            return None
        spec.append((dense, None if len(dense) == len(group) else search_index.tsquery([group])))
    missing = dense_tokens.lacking(context.folder_id, context.view.last_uid, spec, deleted=bool(undeleted))
    if missing is None:  # a token dropped since `ready_tokens` read it
        return None
    view, runs, start = context.view, [], 0
    for uid in missing:
        index = view.number_of_at_least(uid)
        if index < view.count and view.uids[index] == uid:
            runs.append(view.uids[start:index])
            start = index + 1
    runs.append(view.uids[start : view.count])
    return runs


def _joined(runs: list[array]) -> bytes:
    """The UIDs of `runs` as a SEARCH answer's text: the folder minus a few hundred UIDs, formatted here.
    One %-format over them all: 75 ms a million, against 90 ms for joining `map(str, …)`."""
    count = sum(len(run) for run in runs)
    if not count:
        return b""
    return (("%d " * count) % tuple(chain.from_iterable(runs)))[:-1].encode("ascii")


def _word_groups(context: Context, key: SearchKey, undeleted: list[bool]) -> list[list[str]] | None:
    """The token groups (AND of ORs) of a program made only of TEXT, BODY, SUBJECT, FROM, HEADER SUBJECT,
    ALL and UNDELETED (or NOT DELETED: noted in `undeleted`) under AND; None for any other key."""
    if key.name == "AND":
        found: list[list[str]] = []
        for inner in key.args:
            groups = _word_groups(context, inner, undeleted)
            if groups is None:
                return None
            found += groups
        return found
    if key.name == "ALL":
        return []
    if key.name == "UNDELETED" or (key.name == "NOT" and key.args[0].name == "DELETED"):
        undeleted.append(True)
        return []
    if key.name in _BLIND or (key.name == "HEADER" and key.args[0] == "SUBJECT"):
        return context.word_groups(key.args[-1])
    return None


def _q(context: Context, key: SearchKey) -> Q:
    name = key.name
    if name == "AND":
        combined = Q()
        for inner in key.args:
            combined &= _q(context, inner)
        return combined
    if name == "OR":
        return _q(context, key.args[0]) | _q(context, key.args[1])
    if name == "NOT":
        return ~_q(context, key.args[0])
    if name in ("ALL", "OLD", "RECENT", "NEW"):
        return Q() if name in ("ALL", "OLD") else Q(pk__in=[])
    if name in _UNFLAG:
        return ~_q(context, SearchKey(_UNFLAG[name]))
    if name in _FLAG_FIELDS:
        field, value = _FLAG_FIELDS[name]
        return Q(**{field: value})
    if name == "SEEN":
        if context.organisational:
            return Q(pk__in=CopyRead.objects.filter(user_id=context.user_id).values("copy_id"))
        return Q(is_read=True)
    if name == "DRAFT":
        return Q(folder__role="drafts")
    if name in ("KEYWORD", "UNKEYWORD"):
        return _keyword(key.args[0], negate=name == "UNKEYWORD")
    if name in _BLIND:
        return _blind(context, key.args[0])
    return _exact(context, key)


def _exact(context: Context, key: SearchKey) -> Q:
    name, args = key.name, key.args
    if name in ("TO", "CC", "BCC"):
        field = {
            "TO": "message__to_addresses",
            "CC": "message__cc_addresses",
            "BCC": "message__cc_addresses",
        }[name]
        return Q(**{f"{field}__icontains": args[0]})
    if name in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
        field = "message__sent_at" if name.startswith("SENT") else "received_at"
        start = timezone.make_aware(dt.datetime.combine(args[0], dt.time()))
        end = start + dt.timedelta(days=1)
        op = name.removeprefix("SENT")
        if op == "BEFORE":
            return Q(**{f"{field}__lt": start})
        if op == "ON":
            return Q(**{f"{field}__gte": start, f"{field}__lt": end})
        return Q(**{f"{field}__gte": start})
    if name == "LARGER":
        return Q(message__size__gt=args[0])
    if name == "SMALLER":
        return Q(message__size__lt=args[0])
    if name == "UID":
        return _uid_ranges(args[0], context.view.last_uid)
    if name == "SET":
        uids = [context.view.uid_at(n) for low, high in args[0].bounds(context.view.count)
                for n in range(max(low, 1), min(high, context.view.count) + 1)]  # fmt: skip
        return Q(uid__in=uids)
    if name == "HEADER":
        field, value = args
        if field == "MESSAGE-ID":
            return Q(message__message_id__icontains=value.strip())
        if field == "SUBJECT":
            return _blind(context, value)
        if field == "IN-REPLY-TO":
            return Q(message__in_reply_to__icontains=value)
        return Q(pk__in=[]) if value else Q()
    raise ValueError(name)


def _uid_ranges(seq: SequenceSet, last: int) -> Q:
    condition = Q(pk__in=[])
    for low, high in seq.bounds(last):
        condition |= Q(uid__gte=low, uid__lte=high)
    return condition


def _keyword(keyword: str, *, negate: bool) -> Q:
    from apps.imap.mailstore import KEYWORD_STATUS

    status = KEYWORD_STATUS.get(keyword)
    condition = Q(queue_status=status) if status else Q(pk__in=[])
    return ~condition if negate else condition


def _blind(context: Context, text: str) -> Q:
    groups = context.word_groups(text)
    if not groups:
        return Q()
    table = MessageCopy._meta.db_table
    if connection.vendor == "postgresql":
        sql, params = f'"{table}"."search_tokens" @@ CAST(%s AS tsquery)', [search_index.tsquery(groups)]
    else:
        clauses, params = [], []
        for group in groups:
            clauses.append(
                "("
                + " OR ".join(f"(' ' || \"{table}\".\"search_tokens\" || ' ') LIKE %s" for _ in group)
                + ")"
            )
            params += [f"% {token} %" for token in group]
        sql = " AND ".join(clauses)
    alias = f"blind_{len(context.annotations)}"
    context.annotations[alias] = ExpressionWrapper(RawSQL(sql, params), output_field=BooleanField())  # noqa: S611
    return Q(**{alias: True})
