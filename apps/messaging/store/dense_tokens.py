"""Dense blind-index tokens: for a word in nearly every copy of a large folder, the copies that LACK it
(issue 16, docs/decisions/0023-imap-server.md, "Dense words").

Why: IMAP `UID SEARCH TEXT <word>` on a million-message folder where the word is in 999,322 of them must
answer within 300 ms. Through the blind index (GIN on BAL and tokens) PostgreSQL builds a bitmap of a
million rows, visits a million heap tuples for their folder and UID, sorts and joins them: 310-390 ms of
CPU with every page in memory. The answer is nearly the whole folder, which the IMAP process already
holds (its UID map, apps/imap/uidmap.py): what it lacks is the few hundred copies WITHOUT the word. So for
a token found in at least `CHOOSE_SHARE` of a folder of at least `MIN_COPIES` copies, the folder keeps the
UIDs of its copies lacking the token (`TokenGap`), and SEARCH answers "the folder minus those".

Kept exact by PostgreSQL triggers (PostgreSQL only, like the blind index itself), in the transaction that
writes the copy: every copy inserted with a UID, moved in (a new UID), or whose tokens change, gets a gap
row per dense token of its folder it lacks. A copy deleted or moved out leaves its row behind: harmless
(SEARCH subtracts from the copies that exist, and a UID is never reused in a folder) and removed by the
next pass. Deposits to a folder without dense tokens pay one empty join per statement.

Which tokens: a pass (`do_index_dense_tokens`, daily through Celery beat, and soon after a search found a
word in most of a large folder) samples `SAMPLE` copies of the folder by UID and keeps the tokens found in
at least `CHOOSE_SHARE` of them (at most `MAX_PER_FOLDER`), drops those now under `DROP_SHARE`, and fills
the gaps of the new ones. The tokens are the blind index's own (HMACs under the BAL's key): nothing here
names a word, and the sample never leaves the database.

No race with concurrent deposits: a new token's row is committed (not ready) BEFORE the pass reads the
folder's UIDNEXT under the folder row's lock — the lock every deposit holds from its UID allocation to its
commit. So a deposit either committed before that read (its UID is below the mark, and the pass's own
statement, run after, sees it) or writes its copies after the token row was visible (its trigger covers
it). The token is `ready` (used by SEARCH) only once both halves are in.
"""

from __future__ import annotations

import logging
import random
import time

from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

SAMPLE = 2000
MAX_PICKS = 200_000  # UIDs drawn at most, in a folder whose UID range is mostly expunged
CHOOSE_SHARE = 0.95
DROP_SHARE = 0.90
MAX_PER_FOLDER = 64
FILL_BATCH = 100_000  # UIDs per gap-filling transaction
LOCK_SPACE = 16_023  # advisory lock (LOCK_SPACE, folder id): one pass per folder


def min_copies() -> int:
    return int(getattr(settings, "SEARCH_DENSE_MIN_COPIES", 50_000))


TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION messaging_copy_gaps_insert() RETURNS trigger AS $$
BEGIN
  -- Each new copy's tokens decompressed once (the concatenation), and only in a folder with dense tokens;
  -- each token cast once per statement.
  INSERT INTO messaging_tokengap (dense_id, uid)
    SELECT d.id, n.uid
    FROM (SELECT id, folder_id, token::tsquery AS query FROM messaging_densetoken
          WHERE folder_id IN (SELECT folder_id FROM new_rows)) d
    JOIN (SELECT folder_id, uid, coalesce(search_tokens, ''::tsvector) || ''::tsvector AS tokens
          FROM new_rows WHERE uid IS NOT NULL
            AND folder_id IN (SELECT folder_id FROM messaging_densetoken) OFFSET 0) n
      ON n.folder_id = d.folder_id
    WHERE NOT (n.tokens @@ d.query)
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION messaging_copy_gaps_update() RETURNS trigger AS $$
BEGIN
  DELETE FROM messaging_tokengap g USING messaging_densetoken d
    WHERE g.dense_id = d.id AND d.folder_id = NEW.folder_id AND g.uid = NEW.uid;
  INSERT INTO messaging_tokengap (dense_id, uid)
    SELECT d.id, NEW.uid FROM messaging_densetoken d
    WHERE d.folder_id = NEW.folder_id AND NEW.uid IS NOT NULL
      AND NOT (coalesce(NEW.search_tokens, ''::tsvector) @@ d.token::tsquery)
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS messaging_copy_gaps_insert ON messaging_messagecopy;
DROP TRIGGER IF EXISTS messaging_copy_gaps_update ON messaging_messagecopy;
CREATE TRIGGER messaging_copy_gaps_insert AFTER INSERT ON messaging_messagecopy
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_copy_gaps_insert();
CREATE TRIGGER messaging_copy_gaps_update AFTER UPDATE OF folder_id, uid, search_tokens
  ON messaging_messagecopy FOR EACH ROW
  WHEN (OLD.folder_id IS DISTINCT FROM NEW.folder_id OR OLD.uid IS DISTINCT FROM NEW.uid
        OR OLD.search_tokens IS DISTINCT FROM NEW.search_tokens)
  EXECUTE FUNCTION messaging_copy_gaps_update();
"""
DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS messaging_copy_gaps_insert ON messaging_messagecopy;
DROP TRIGGER IF EXISTS messaging_copy_gaps_update ON messaging_messagecopy;
DROP FUNCTION IF EXISTS messaging_copy_gaps_insert();
DROP FUNCTION IF EXISTS messaging_copy_gaps_update();
"""


def large_folders() -> list[int]:
    """Folders that may hold `min_copies()` copies (UIDNEXT bounds the count), or still have dense tokens."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM messaging_folder WHERE uidnext > %s "
            "UNION SELECT DISTINCT folder_id FROM messaging_densetoken ORDER BY 1",
            [min_copies()],
        )
        return [row[0] for row in cursor.fetchall()]


def do_index_dense_tokens(folder_id: int) -> dict[str, int]:
    """Choose the folder's dense tokens again and fill the gaps of new ones; prune gaps of copies gone.
    Returns counts (chosen, dropped, gaps written, gaps pruned) for the log and the tests."""
    result = {"chosen": 0, "dropped": 0, "gaps": 0, "pruned": 0}
    if connection.vendor != "postgresql":
        return result
    with connection.cursor() as cursor:  # one pass per folder at a time (a daily one, a suggested one)
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_SPACE, folder_id])
        if not cursor.fetchone()[0]:
            return result
    try:
        return _index(folder_id, result)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_SPACE, folder_id])


def _index(folder_id: int, result: dict[str, int]) -> dict[str, int]:
    started = time.monotonic()
    shares = _sample_shares(folder_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT token, id FROM messaging_densetoken WHERE folder_id = %s", [folder_id])
        existing = dict(cursor.fetchall())
    dropped = [pk for token, pk in existing.items() if shares.get(token, 0.0) < DROP_SHARE]
    wanted = sorted(
        (token for token, share in shares.items() if share >= CHOOSE_SHARE and token not in existing),
        key=lambda token: -shares[token],
    )[: max(0, MAX_PER_FOLDER - (len(existing) - len(dropped)))]
    with transaction.atomic(), connection.cursor() as cursor:
        if dropped:  # their gaps go with them (ON DELETE CASCADE is Django's: one DELETE each)
            cursor.execute("DELETE FROM messaging_tokengap WHERE dense_id = ANY(%s)", [dropped])
            cursor.execute("DELETE FROM messaging_densetoken WHERE id = ANY(%s)", [dropped])
        new_ids = []
        for token in wanted:
            cursor.execute(
                "INSERT INTO messaging_densetoken (folder_id, token, ready, share, chosen_at) "
                "VALUES (%s, %s, false, %s, now()) RETURNING id",
                [folder_id, token, shares[token]],
            )
            new_ids.append(cursor.fetchone()[0])
    result["dropped"], result["chosen"] = len(dropped), len(new_ids)
    unfinished = _unfinished(folder_id)  # new ones, and any an interrupted pass left
    if unfinished:
        result["gaps"] = _fill(folder_id, unfinished)
    result["pruned"] = _prune(folder_id)
    logger.info(
        "dense tokens: folder %s, %s chosen, %s dropped, %s gaps written, %s pruned, %.1f s",
        folder_id, result["chosen"], result["dropped"], result["gaps"], result["pruned"],
        time.monotonic() - started,
    )  # fmt: skip
    return result


def _sample_shares(folder_id: int) -> dict[str, float]:
    """{token: share of the sampled copies holding it}: `SAMPLE` copies drawn by UID (an index lookup
    each), or every copy of a folder smaller than that. Empty under `min_copies()`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), min(uid), max(uid) FROM messaging_messagecopy "
            "WHERE folder_id = %s AND uid IS NOT NULL",
            [folder_id],
        )
        count, low, high = cursor.fetchone()
        if count < max(min_copies(), 1):
            return {}
        # UIDs drawn in the folder's range, enough of them that ~1.5 × SAMPLE hit a copy where some were
        # expunged; of the copies found, SAMPLE at random (a plain LIMIT would keep the lowest UIDs: the
        # oldest mail only).
        span = high - low + 1
        wanted = min(span, int(SAMPLE * 1.5 * span / count) + 1, MAX_PICKS)
        picks = random.sample(range(low, high + 1), wanted)  # noqa: S311 - a statistical sample, no secret
        cursor.execute(
            "WITH sampled AS (SELECT search_tokens FROM messaging_messagecopy "
            "  WHERE folder_id = %s AND uid = ANY(%s) ORDER BY random() LIMIT %s) "
            "SELECT token, count(*)::float / (SELECT count(*) FROM sampled) "
            "FROM sampled, unnest(tsvector_to_array(coalesce(search_tokens, ''::tsvector))) token "
            "GROUP BY token HAVING count(*) >= %s * (SELECT count(*) FROM sampled)",
            [folder_id, picks, SAMPLE, DROP_SHARE],
        )
        return dict(cursor.fetchall())


def _unfinished(folder_id: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM messaging_densetoken WHERE folder_id = %s AND NOT ready ORDER BY id", [folder_id]
        )
        return [row[0] for row in cursor.fetchall()]


def _fill(folder_id: int, dense_ids: list[int]) -> int:
    """The gaps of copies numbered before the tokens were chosen, in committed batches of UIDs; the
    triggers already cover every copy written since the tokens' rows committed."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Waits for the deposits holding the folder row (their trigger may have run before the tokens'
        # rows were visible); every deposit after this sees them.
        cursor.execute("SELECT uidnext FROM messaging_folder WHERE id = %s FOR UPDATE", [folder_id])
        mark = cursor.fetchone()[0]
    written = 0
    for low in range(1, mark, FILL_BATCH):
        with transaction.atomic(), connection.cursor() as cursor:
            # Each copy's tokens detoasted once (the concatenation), then tested against every new token.
            cursor.execute(
                "INSERT INTO messaging_tokengap (dense_id, uid) "
                "SELECT d.id, c.uid FROM (SELECT uid, coalesce(search_tokens, ''::tsvector) || ''::tsvector "
                "  AS tokens FROM messaging_messagecopy WHERE folder_id = %s AND uid >= %s AND uid < %s "
                "  OFFSET 0) c "
                "CROSS JOIN (SELECT id, token::tsquery AS query FROM messaging_densetoken "
                "  WHERE id = ANY(%s)) d "
                "WHERE NOT (c.tokens @@ d.query) ON CONFLICT DO NOTHING",
                [folder_id, low, min(low + FILL_BATCH, mark), dense_ids],
            )
            written += cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute("UPDATE messaging_densetoken SET ready = true WHERE id = ANY(%s)", [dense_ids])
    return written


def _prune(folder_id: int) -> int:
    """Gap rows of copies deleted or moved out since (their UIDs are never reused in the folder)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM messaging_tokengap g USING messaging_densetoken d "
            "WHERE g.dense_id = d.id AND d.folder_id = %s AND NOT EXISTS ("
            "  SELECT 1 FROM messaging_messagecopy c WHERE c.folder_id = %s AND c.uid = g.uid)",
            [folder_id, folder_id],
        )
        return cursor.rowcount


def ready_tokens(folder_id: int) -> dict[str, int]:
    """{token: dense id} of the folder's tokens SEARCH may answer from."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT token, id FROM messaging_densetoken WHERE folder_id = %s AND ready", [folder_id]
        )
        return dict(cursor.fetchall())


def lacking(
    folder_id: int, last_uid: int, groups: list[tuple[list[int], str | None]], *, deleted: bool = False
) -> list[int] | None:
    """The UIDs (ascending, at most `last_uid`) of the folder's copies lacking at least one group, for
    groups given as (their dense token ids, the tsquery of the whole group when it also has other tokens,
    else None). A copy lacks a group when it lacks each of its dense tokens (their gaps intersected) and,
    where the group has other tokens, its own tokens say so too (only those few copies are read). None
    when a token was dropped meanwhile (the caller asks the database the usual way). `deleted`: the copies
    marked \\Deleted too (UNDELETED; a partial index holds them, migration messaging 0014)."""
    candidates = (
        "SELECT uid FROM messaging_tokengap WHERE dense_id = ANY(%s) AND uid <= %s "
        "GROUP BY uid HAVING count(*) = %s"
    )
    parts: list[str] = []
    params: list = []
    for dense_ids, whole in groups:
        if whole is None:
            parts.append(candidates)
            params += [dense_ids, last_uid, len(dense_ids)]
            continue
        parts.append(
            f"SELECT c.uid FROM messaging_messagecopy c WHERE c.folder_id = %s AND c.uid IN ({candidates}) "  # noqa: S608
            "AND NOT (coalesce(c.search_tokens, ''::tsvector) @@ CAST(%s AS tsquery))"
        )
        params += [folder_id, dense_ids, last_uid, len(dense_ids), whole]
    if deleted:
        parts.append(
            "SELECT uid FROM messaging_messagecopy WHERE folder_id = %s AND imap_deleted AND uid <= %s"
        )
        params += [folder_id, last_uid]
    every = sorted({pk for dense_ids, _whole in groups for pk in dense_ids})
    with connection.cursor() as cursor:
        # One statement, one snapshot: the tokens are still there and ready as the gaps are read.
        cursor.execute(
            "SELECT (SELECT count(*) FROM messaging_densetoken WHERE id = ANY(%s) AND ready), "  # noqa: S608
            "ARRAY(SELECT uid FROM (" + " UNION ".join(parts) + ") found ORDER BY uid)",
            [every, *params],
        )
        ready, uids = cursor.fetchone()
    return list(uids) if ready == len(every) else None
