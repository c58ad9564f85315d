"""`manage.py audit_verify`: names the first broken link, and events left unsealed too long."""

from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.services import do_seal_pending
from apps.audit.verify import verify_chain
from tests.audit.support import make_event, run_verify, tamper


def _sealed_events(count: int) -> list[AuditEvent]:
    events = [make_event(f"test.action{i}", actor_label=f"user{i}@demo.mssante.fr") for i in range(count)]
    do_seal_pending()
    return [AuditEvent.objects.get(pk=event.pk) for event in events]


def test_it_passes_an_intact_chain(db):
    _sealed_events(4)

    status, output = run_verify()

    assert status == 0
    assert "4 sealed event(s) verified, up to seal_seq 4" in output
    assert "Chain OK" in output


def test_it_names_a_row_altered_behind_the_triggers_back(db):
    events = _sealed_events(5)
    victim = events[2]
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory@demo.mssante.fr' WHERE id = %s", [victim.id])

    status, output = run_verify()

    assert status == 1
    assert f"CHAIN BROKEN (content_altered): event #{victim.id} (seal_seq 3)" in output
    assert f"stored seal {victim.seal}" in output
    assert "2 sealed event(s) verified, up to seal_seq 2" in output


def test_it_names_a_rewritten_seal(db):
    events = _sealed_events(3)
    tamper("UPDATE audit_auditevent SET seal = repeat('e', 64) WHERE id = %s", [events[-1].id])

    result = verify_chain()

    assert result.first_break is not None
    assert (result.first_break.kind, result.first_break.event_id) == ("seal_mismatch", events[-1].id)
    assert result.first_break.stored == "e" * 64
    assert result.first_break.expected == events[-1].seal


def test_it_reports_deleted_rows_as_a_gap(db):
    events = _sealed_events(6)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")
        cursor.execute("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [events[1].id, events[2].id])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER ALL")

    status, output = run_verify()

    assert status == 1
    assert f"CHAIN BROKEN (gap): seal_seq 2 to 3 missing before event #{events[3].id} (seal_seq 4)" in output


def test_it_reports_events_unsealed_for_too_long(db):
    _sealed_events(2)
    stale = make_event("test.stale", days_ago=1)
    make_event("test.stale", days_ago=0.5)
    make_event("test.fresh")

    status, output = run_verify("--max-unsealed-age", "600")

    assert status == 1
    assert "Chain OK" in output
    assert (
        f"UNSEALED TOO LONG: 2 event(s) unsealed for more than 600 s; oldest is event #{stale.id}" in output
    )
    assert run_verify("--max-unsealed-age", "172800")[0] == 0


def test_it_uses_the_configured_unsealed_alert_by_default(db, settings):
    make_event("test.stale", days_ago=0.01)  # about 15 minutes ago
    settings.AUDIT_UNSEALED_ALERT_SECONDS = 300

    assert verify_chain().stale_unsealed == 1
    settings.AUDIT_UNSEALED_ALERT_SECONDS = 3600
    result = verify_chain()
    assert (result.stale_unsealed, result.unsealed_total, result.ok) == (0, 1, True)
