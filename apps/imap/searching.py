"""SEARCH programs -> database filters (database thread).

TEXT, BODY, SUBJECT and FROM are answered from the blind index (apps.messaging.store.search_index, ADR 0008):
whole words (with their French stems) and word prefixes, over the subject, body, sender and attachment
names together — not RFC 3501's substring match within one field, which would need the content in clear.
Every other key is exact: flags, dates, sizes, UID and message-number sets, TO/CC/BCC on the envelope,
HEADER Message-ID (and any HEADER on the few headers the database keeps).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.imap.items import SearchKey, SequenceSet
from apps.imap.uidmap import View
from apps.mailboxes.keys import mailbox_key
from apps.messaging.models import CopyRead, MessageCopy
from apps.messaging.store import search_index

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


# A word found in most of a large folder: the planner then prefers reading the whole folder (a sequential
# scan, or the folder's btree index and a filter), which opens every copy's TOASTed tokens to test them —
# 265 ms at 100,000 copies against 38 ms through the blind index's bitmap, 16 ms against 2 ms at 5,000 (it
# does not count the opening of the tokens). For a search with a blind-index word, this statement only:
# no sequential or plain index scan, an operator priced at what testing a row's tokens costs (40 times the
# default, which makes the GIN index condition win over filtering every row of the folder), no parallel
# workers (their start-up is most of a fast search), no JIT compilation (75 ms for a plan that costly: a
# seventh of a million-row answer), and the memory that keeps a million-entry bitmap exact (a lossy one
# would test every row's tokens again).
BLIND_SETTINGS = (
    "SET LOCAL work_mem = '64MB'; SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; "
    "SET LOCAL cpu_operator_cost = 0.1; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
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
    joined = search_joined(context, program)
    return [int(uid) for uid in joined.split()] if joined else []


def joins_in_database() -> bool:
    return connection.vendor == "postgresql"


def search_joined(context: Context, program: SearchKey) -> bytes:
    """PostgreSQL: the matching UIDs ascending as the text of a SEARCH answer (`1 2 5`), joined by the
    server: a million matches are one value of ~7 MB, not a million rows and Python integers. The
    statement is planned for the blind index when it has a word (`BLIND_SETTINGS`)."""
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
    return (row[0] or "").encode("ascii") if row else b""


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
    _version, key = mailbox_key(context.mailbox_id)
    groups = search_index.query_groups(key, text)
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
