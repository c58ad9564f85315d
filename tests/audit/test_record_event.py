import pytest
from django.db import transaction

from apps.audit import context
from apps.audit.models import AuditEvent, Outcome
from apps.audit.services import record_event


@pytest.mark.django_db(transaction=True)
def test_it_writes_nothing_when_the_change_is_rolled_back(dr_alice):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        record_event("bal.opened", actor=dr_alice)
        raise Abort

    assert not AuditEvent.objects.filter(action="bal.opened").exists()
    with transaction.atomic():
        record_event("bal.opened", actor=dr_alice)
    assert AuditEvent.objects.filter(action="bal.opened", actor_id=dr_alice.pk).count() == 1


def test_it_records_actor_context_and_outcome(dr_alice):
    with context.use(context.RequestContext(ip="192.0.2.7", user_agent="Firefox/140")):
        event = record_event(
            "message.read",
            actor=dr_alice,
            target=dr_alice,
            outcome=Outcome.DENIED,
            details={"folder": "INBOX"},
        )

    event.refresh_from_db()
    assert (event.actor_id, event.actor_label) == (dr_alice.pk, dr_alice.email)
    assert (event.ip, event.user_agent, event.outcome) == ("192.0.2.7", "Firefox/140", "denied")
    assert (event.target_type, event.target_id) == ("accounts.user", str(dr_alice.pk))
    assert event.seal_seq is None and event.seal is None


def test_it_drops_forbidden_detail_keys(dr_alice):
    event = record_event(
        "message.sent", actor=dr_alice, details={"body": "Compte rendu", "password": "x", "recipients": 2}
    )

    event.refresh_from_db()
    assert event.details == {"recipients": 2}
