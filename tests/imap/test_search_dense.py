"""Dense blind-index tokens (apps/messaging/store/dense_tokens.py): SEARCH of a word in nearly every copy of a
large folder answered as the folder minus the copies lacking it. The answer must be exactly the plain
query's — over random programs, after deposits, moves, deletions and tokens changed in place once the
tokens were chosen, and after a pass drops a token — and the triggers, not the pass, must keep the gaps.
The thresholds are lowered so that a dozen messages make a "large" folder."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings

from apps.crypto.keys import derive_search_key
from apps.imap import searching, uidmap
from apps.imap.commands import parse_command
from apps.imap.handlers.mailbox import _select
from apps.mailboxes.keys import mailbox_key
from apps.messaging.models import DenseToken, Folder, FolderRole, MessageCopy, TokenGap
from apps.messaging.store import dense_tokens, search_index
from tests.imap.conftest import app_password
from tests.imap.search_programs import programs
from tests.messaging.helpers import send

# « patient » in 10 of 12 letters; « compte rendu » in every subject; the rest rare.
TEXTS = [f"Le patient va bien, suivi cardiologie {i}" for i in range(10)] + [
    "Échographie normale",
    "Scanner thoracique et ordonnance",
]
WORDS = ["patient", "compte", "rendu", "cardiologie", "échographie", "scanner", "xylophone", "pat", "com"]


@pytest.fixture
def thresholds(settings, monkeypatch):
    settings.SEARCH_DENSE_MIN_COPIES = 5
    monkeypatch.setattr(dense_tokens, "CHOOSE_SHARE", 0.8)
    monkeypatch.setattr(dense_tokens, "DROP_SHARE", 0.7)
    monkeypatch.setattr(searching.dense_tokens, "CHOOSE_SHARE", 0.8)


@pytest.fixture
def inbox(thresholds, alice_bal, sec_bob, cardio_bal):
    for index, text in enumerate(TEXTS):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Compte rendu {index}", text=text)
    folder = Folder.objects.get(mailbox=alice_bal, role=FolderRole.INBOX)
    copies = list(MessageCopy.objects.filter(folder=folder).order_by("uid"))
    MessageCopy.objects.filter(pk__in=[c.pk for c in copies[::2]]).update(is_flagged=True)
    # Two marked \Deleted by a mail client, one with « patient » and one without.
    MessageCopy.objects.filter(pk__in=[copies[3].pk, copies[11].pk]).update(imap_deleted=True)
    uidmap.set_listening(True)
    yield folder
    uidmap.set_listening(False)
    uidmap.clear()


def _context(folder: Folder) -> searching.Context:
    uidmap.clear()  # a fresh view: deletions are not announced without a listener
    owner = folder.mailbox.owner_id
    imap_folder, view, _uidnext, _modseq = _select(owner, "INBOX")
    return searching.Context(imap_folder.folder_id, imap_folder.mailbox_id, owner, False, view)


def _program(text: str):
    return parse_command(f"a UID SEARCH CHARSET UTF-8 {text}".encode()).args["program"]


def _plain(folder: Folder, program) -> list[int]:
    return [int(uid) for uid in searching._matching(_context(folder), program).order_by("uid")]  # noqa: SLF001


def _dense_used(folder: Folder, text: str) -> bool:
    return searching._dense_runs(_context(folder), _program(text)) is not None  # noqa: SLF001


def _same_answer(folder: Folder, text: str) -> list[int]:
    program = _program(text)
    plain = _plain(folder, program)
    assert searching.search_joined(_context(folder), program) == " ".join(map(str, plain)).encode(), text
    assert searching.search(_context(folder), program) == plain, text
    return plain


def _token(folder: Folder, word: str) -> tuple[str, str]:
    """The word's own token (its lexeme) and its prefix token, under the BAL's search key."""
    key = derive_search_key(mailbox_key(folder.mailbox_id)[1])
    (lexeme,) = search_index.lexemes(word)
    return search_index._token(key, "w", lexeme), search_index._token(key, "p", word[:10])  # noqa: SLF001


def test_a_pass_chooses_the_words_in_most_copies_and_search_answers_from_their_gaps(inbox):
    result = dense_tokens.do_index_dense_tokens(inbox.pk)
    chosen = set(DenseToken.objects.filter(folder=inbox, ready=True).values_list("token", flat=True))
    assert result["chosen"] == len(chosen) > 0
    patient_word, _patient_prefix = _token(inbox, "patient")
    assert patient_word in chosen  # in 10 of 12
    assert not set(_token(inbox, "échographie")) & chosen  # in 1 of 12
    # The two letters without « patient » are its gaps, by UID.
    lacking = sorted(_plain(inbox, _program("NOT TEXT patient")))
    gaps = TokenGap.objects.filter(dense__folder=inbox, dense__token=patient_word)
    assert sorted(gaps.values_list("uid", flat=True)) == lacking and len(lacking) == 2
    assert _dense_used(inbox, "TEXT patient") and _dense_used(inbox, "TEXT compte SUBJECT rendu")
    assert not _dense_used(inbox, "TEXT scanner") and not _dense_used(inbox, "FLAGGED TEXT patient")
    assert len(_same_answer(inbox, "TEXT patient")) == 10
    assert len(_same_answer(inbox, "TEXT compte BODY rendu")) == 12
    # Thunderbird's form of every search, and its equivalent: the copies marked \Deleted left out too.
    assert _dense_used(inbox, "UNDELETED TEXT patient") and _dense_used(inbox, "NOT DELETED TEXT patient")
    assert len(_same_answer(inbox, "UNDELETED TEXT patient")) == 9
    assert len(_same_answer(inbox, "NOT DELETED SUBJECT compte")) == 10
    assert not _dense_used(inbox, "DELETED TEXT patient") and not _dense_used(inbox, "UNDELETED")
    # A second pass finds nothing new to do.
    assert dense_tokens.do_index_dense_tokens(inbox.pk) == {"chosen": 0, "dropped": 0, "gaps": 0, "pruned": 0}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=programs(WORDS, ["FLAGGED", "UNFLAGGED", "ALL", "UNDELETED", "DELETED"], uid_max=14))
def test_with_dense_tokens_every_answer_is_the_plain_query_s(inbox, program):
    if not DenseToken.objects.filter(folder=inbox).exists():
        dense_tokens.do_index_dense_tokens(inbox.pk)
    _same_answer(inbox, program)


def test_the_triggers_keep_the_gaps_through_deposits_moves_deletions_and_token_changes(
    inbox, alice_bal, sec_bob, cardio_bal
):
    dense_tokens.do_index_dense_tokens(inbox.pk)
    # Deposits after the pass: two letters without « patient », one with; two without « compte ».
    for subject, text in [
        ("Résultats", "Résultats de biologie"),
        ("Compte rendu", "Le patient est sorti"),
        ("Courrier", "Courrier de sortie"),
    ]:
        send(cardio_bal, sec_bob, [alice_bal.address], subject=subject, text=text)
    # A letter moved in from the archive (a new UID in the inbox), one deleted.
    archive = Folder.objects.get(mailbox=alice_bal, role=FolderRole.ARCHIVE)
    moved = MessageCopy.objects.filter(folder=inbox).order_by("uid").last()
    MessageCopy.objects.filter(pk=moved.pk).update(folder=archive)  # out (a new UID there)
    MessageCopy.objects.filter(pk=moved.pk).update(folder=inbox)  # and back in, with another new UID
    MessageCopy.objects.filter(folder=inbox).order_by("uid").first().delete()
    # Tokens rewritten in place: one letter loses « patient », one without it gains it.
    # A third loses the word but keeps its prefix token (the group's other, non-dense token): it still
    # matches, which only reading its tokens can tell.
    patient_word, patient_prefix = _token(inbox, "patient")
    rows = list(MessageCopy.objects.filter(folder=inbox).order_by("uid"))
    with_word = [c for c in rows if patient_word in c.search_tokens]
    without = next(c for c in rows if patient_word not in c.search_tokens)
    for copy, extra in [(with_word[0], ""), (with_word[1], patient_prefix)]:
        kept = [t for t in copy.search_tokens.split() if t.strip("'") != patient_word]
        MessageCopy.objects.filter(pk=copy.pk).update(search_tokens=" ".join([*kept, extra]))
    MessageCopy.objects.filter(pk=without.pk).update(search_tokens=f"{without.search_tokens} {patient_word}")

    for text in ["TEXT patient", "TEXT compte", "TEXT patient SUBJECT compte", "TEXT pat"]:
        _same_answer(inbox, text)
    assert _dense_used(inbox, "TEXT patient")
    # The pass prunes the gap rows of the copies that left (the moved letter's first UID lacked « compte »).
    assert dense_tokens.do_index_dense_tokens(inbox.pk)["pruned"] >= 1
    assert (
        not TokenGap.objects.exclude(uid__in=MessageCopy.objects.filter(folder=inbox).values("uid"))
        .filter(dense__folder=inbox)
        .exists()
    )
    _same_answer(inbox, "TEXT patient")


def test_a_token_no_longer_dense_is_dropped_with_its_gaps_and_an_unfinished_one_is_finished(
    inbox, alice_bal, sec_bob, cardio_bal
):
    dense_tokens.do_index_dense_tokens(inbox.pk)
    patient_word, _prefix = _token(inbox, "patient")
    # An interrupted pass: a token chosen, its gaps not filled, not ready — SEARCH ignores it.
    scanner_word, _scanner_prefix = _token(inbox, "scanner")
    DenseToken.objects.create(folder=inbox, token=scanner_word, share=0.9, ready=False)
    assert not _dense_used(inbox, "TEXT scanner")
    # Six letters without « patient »: 10 of 18, under the drop share.
    for index in range(6):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Compte rendu {index}", text="Biologie")
    result = dense_tokens.do_index_dense_tokens(inbox.pk)
    assert result["dropped"] >= 2  # « patient », and « scanner » in 1 of 18
    assert not DenseToken.objects.filter(folder=inbox, token__in=[patient_word, scanner_word]).exists()
    assert not _dense_used(inbox, "TEXT patient")
    _same_answer(inbox, "TEXT patient")
    # Left unfinished by a pass that died: the next one fills it and makes it ready.
    compte = DenseToken.objects.get(folder=inbox, token=_token(inbox, "compte")[0])
    TokenGap.objects.filter(dense=compte).delete()
    DenseToken.objects.filter(pk=compte.pk).update(ready=False)
    dense_tokens.do_index_dense_tokens(inbox.pk)
    assert DenseToken.objects.get(pk=compte.pk).ready
    _same_answer(inbox, "TEXT compte")


def test_a_small_folder_gets_no_dense_tokens(inbox, settings):
    settings.SEARCH_DENSE_MIN_COPIES = 50
    assert dense_tokens.do_index_dense_tokens(inbox.pk)["chosen"] == 0
    assert not DenseToken.objects.filter(folder=inbox).exists()


def test_a_search_finding_a_word_in_most_of_a_large_folder_asks_for_a_pass(
    thresholds, celery_worker_thread, connect, alice_bal, sec_bob, cardio_bal
):
    for index, text in enumerate(TEXTS):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Compte rendu {index}", text=text)
    inbox = Folder.objects.get(mailbox=alice_bal, role=FolderRole.INBOX)
    owner = alice_bal.owner
    every = list(MessageCopy.objects.filter(folder=inbox).order_by("uid").values_list("uid", flat=True))
    raw = connect.raw()
    raw.command("a", f"LOGIN {owner.email} {app_password(owner)}")
    raw.command("b", "SELECT INBOX")
    expected = b"* SEARCH " + " ".join(map(str, every)).encode() + b"\r\n"
    assert raw.command("c", "UID SEARCH TEXT compte")[0] == expected  # the database's answer
    deadline = time.monotonic() + 30  # the worker thread runs the pass the search asked for
    while not DenseToken.objects.filter(folder=inbox, ready=True).exists():
        assert time.monotonic() < deadline, "no pass ran"
        time.sleep(0.2)
    assert _dense_used(inbox, "TEXT compte")
    assert raw.command("d", "UID SEARCH TEXT compte")[0] == expected  # the folder minus its gaps
    raw.command("e", "LOGOUT")


def test_the_daily_pass_asks_for_one_task_per_large_folder(inbox, cardio_bal, celery_queue, settings):
    from apps.messaging.tasks import index_dense_tokens

    assert "messaging-dense-tokens" in settings.CELERY_BEAT_SCHEDULE
    # Alice's inbox and the secretariat's Sent folder hold 12 copies each; the other folders none.
    sent = Folder.objects.get(mailbox=cardio_bal, role=FolderRole.SENT)
    assert index_dense_tokens() == 2
    assert sorted((t.name, t.args[0]) for t in celery_queue.pending()) == sorted(
        ("apps.messaging.tasks.index_folder_dense_tokens", pk) for pk in [inbox.pk, sent.pk]
    )
    settings.SEARCH_DENSE_MIN_COPIES = 50  # no folder that large, none with dense tokens: nothing to do
    celery_queue.purge()
    assert index_dense_tokens() == 0


def test_a_suggestion_that_cannot_be_queued_never_fails_the_search(inbox, settings, caplog):
    import socket

    with socket.socket() as probe:  # a port nothing listens on: Redis "down"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    searching._suggest_dense_tokens(inbox.pk)  # noqa: SLF001
    assert "could not be queued" in caplog.text


def test_a_bal_deleted_takes_its_dense_tokens_and_gaps_with_it(inbox, alice_bal):
    from apps.mailboxes.services import do_delete_mailbox

    dense_tokens.do_index_dense_tokens(inbox.pk)
    assert TokenGap.objects.filter(dense__folder=inbox).exists()
    do_delete_mailbox(alice_bal, acting_user=None)
    assert not DenseToken.objects.filter(folder_id=inbox.pk).exists()
    assert not TokenGap.objects.exists()


def test_the_answer_s_text_joins_the_runs_of_uids():
    from array import array

    joined = searching._joined  # noqa: SLF001
    assert joined([]) == joined([array("q"), array("q")]) == b""
    assert joined([array("q"), array("q", [1, 2]), array("q", [10**12])]) == b"1 2 1000000000000"


def test_a_deposit_in_flight_while_a_pass_chooses_a_token_gets_its_gap(transactional_db, inbox):
    """The race the pass is built against: a deposit has reserved its UID and written its copy (its
    trigger saw no dense token yet) but not committed, when the pass commits a new token. The pass must
    wait for that deposit (the folder row's lock) before reading UIDNEXT, so that its own filling covers
    the copy; reading UIDNEXT without the lock would leave the copy with no gap, wrongly matching."""
    import threading

    from django.db import connection, transaction

    patient_word, _prefix = _token(inbox, "patient")
    columns = [
        f.column
        for f in MessageCopy._meta.concrete_fields
        if f.column not in ("id", "uid", "search_tokens", "delivery_id")
    ]
    listed = ", ".join(columns)
    deposit_written, deposit_commit, pass_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def deposit() -> None:  # a copy of the first letter, tokens without « patient », UID from the trigger
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO messaging_messagecopy ({listed}, search_tokens) "  # noqa: S608
                    f"SELECT {listed}, 'deadbeefdeadbeef'::tsvector FROM messaging_messagecopy "
                    "WHERE folder_id = %s ORDER BY uid LIMIT 1",
                    [inbox.pk],
                )
                deposit_written.set()
                assert deposit_commit.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            connection.close()

    def index() -> None:
        try:
            dense_tokens.do_index_dense_tokens(inbox.pk)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            pass_done.set()
            connection.close()

    depositor = threading.Thread(target=deposit)
    depositor.start()
    assert deposit_written.wait(10), errors
    indexer = threading.Thread(target=index)
    indexer.start()
    # The pass commits its tokens, then waits on the folder row the deposit holds.
    deadline = time.monotonic() + 30
    while not DenseToken.objects.filter(folder=inbox, token=patient_word).exists():
        assert time.monotonic() < deadline and not pass_done.is_set(), errors
        time.sleep(0.05)
    time.sleep(0.3)
    assert not pass_done.is_set()  # still waiting for the deposit
    deposit_commit.set()
    depositor.join(30)
    indexer.join(60)
    assert not errors, errors
    assert DenseToken.objects.get(folder=inbox, token=patient_word).ready
    assert len(_same_answer(inbox, "TEXT patient")) == 10  # the new copy lacks it, and is not answered
    assert _dense_used(inbox, "TEXT patient")


def test_a_word_is_tokenised_once_per_search_when_the_dense_path_falls_back(inbox, monkeypatch):
    dense_tokens.do_index_dense_tokens(inbox.pk)
    context = _context(inbox)
    calls: list[str] = []
    original = search_index.query_groups

    def counted(key: bytes, text: str) -> list[list[str]]:
        calls.append(text)
        return original(key, text)

    monkeypatch.setattr(search_index, "query_groups", counted)
    assert searching.search_joined(context, _program("TEXT scanner")) != b""  # no dense token: plain path
    assert calls == ["scanner"]
