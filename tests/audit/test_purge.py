"""`manage.py audit_purge`: the one way out of the journal, leaving a verifiable anchor."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.audit.models import AuditAnchor, AuditEvent
from apps.audit.services import do_seal_pending
from tests.audit.support import make_event, run_verify, tamper


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.AUDIT_RETENTION_DAYS = 365


def _purge(*args: str) -> str:
    out = StringIO()
    call_command("audit_purge", *args, stdout=out)
    return out.getvalue()


def _cutoff(days_ago: int = 400) -> str:
    return (timezone.localdate() - dt.timedelta(days=days_ago)).isoformat()


def test_it_refuses_a_date_within_the_retention_period(db):
    make_event(days_ago=500)
    do_seal_pending()

    with pytest.raises(CommandError, match="retention period is 365 days"):
        _purge("--before", _cutoff(200))

    assert AuditEvent.objects.count() == 1
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        _purge("--before", "01/02/2020")


def test_it_purges_old_sealed_events_and_leaves_an_anchor(db):
    old = [make_event(days_ago=500 - i) for i in range(3)]
    recent = [make_event(days_ago=10 - i) for i in range(2)]
    do_seal_pending()
    unsealed_old = make_event(days_ago=450)  # committed late: not sealed yet, so not purged
    third = AuditEvent.objects.get(pk=old[2].pk)

    output = _purge("--before", _cutoff(), "--actor", "olga.admin@demo.mssante.fr")

    assert "Purged 3 event(s), seal_seq 1 to 3" in output
    assert set(AuditEvent.objects.values_list("id", flat=True)) > {e.id for e in recent} | {unsealed_old.id}
    assert not AuditEvent.objects.filter(id__in=[e.id for e in old]).exists()
    anchor = AuditAnchor.objects.get()
    assert (anchor.through_seq, anchor.seal, anchor.purged_count) == (3, third.seal, 3)
    assert anchor.actor_label == "olga.admin@demo.mssante.fr"
    purged = AuditEvent.objects.get(action="audit.purged")
    assert purged.actor_label == "olga.admin@demo.mssante.fr"
    assert purged.details["through_seq"] == 3 and purged.details["purged_count"] == 3
    assert "Chain OK" in run_verify()[1]  # the late event is reported as unsealed, the chain holds
    do_seal_pending()
    status, output = run_verify()
    assert status == 0, output
    assert f"Chain walked from anchor #{anchor.id} (seal_seq 3)" in output


def test_the_chain_keeps_growing_after_a_purge(db):
    make_event(days_ago=500)
    do_seal_pending()
    _purge("--before", _cutoff())
    do_seal_pending()  # an anchor and no sealed event left: the next seal links to the anchor

    make_event("test.after")
    do_seal_pending()

    assert list(AuditEvent.objects.order_by("seal_seq").values_list("seal_seq", flat=True)) == [2, 3]
    assert run_verify()[0] == 0


def test_it_only_purges_a_prefix_of_the_chain(db):
    make_event(days_ago=500)
    make_event(days_ago=5)
    make_event(days_ago=499)  # older, but after a recent event in the chain: kept until that one goes
    do_seal_pending()

    assert "Purged 1 event(s), seal_seq 1 to 1" in _purge("--before", _cutoff())
    assert AuditAnchor.objects.get().through_seq == 1


def test_a_dry_run_deletes_nothing(db):
    make_event(days_ago=500)
    make_event(days_ago=450)
    do_seal_pending()

    assert "Dry run: would purge 2 event(s), seal_seq 1 to 2" in _purge("--before", _cutoff(), "--dry-run")
    assert AuditEvent.objects.count() == 2
    assert not AuditAnchor.objects.exists()
    assert "Nothing to purge" in _purge("--before", _cutoff(600))


def test_it_refuses_to_purge_a_broken_chain(db):
    events = [make_event(days_ago=500 - i) for i in range(3)]
    do_seal_pending()
    tamper("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [events[1].id])

    with pytest.raises(CommandError, match=f"chain is broken, nothing purged: event #{events[1].id}"):
        _purge("--before", _cutoff())

    assert AuditEvent.objects.count() == 3
    assert not AuditAnchor.objects.exists()


def test_verify_detects_an_altered_anchor(db):
    make_event(days_ago=500)
    make_event(days_ago=450)
    do_seal_pending()
    _purge("--before", _cutoff())
    do_seal_pending()
    tamper("UPDATE audit_auditanchor SET through_seq = 1", [])

    status, output = run_verify()

    assert status == 1
    assert "CHAIN BROKEN (anchor)" in output
