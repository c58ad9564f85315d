"""The portal's list pages cost a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

from django.urls import reverse

from apps.patients.services_documents import do_add_document
from tests.messaging.helpers import PDF, pdf_part, send
from tests.patients.conftest import PAUL_ADDRESS, PAUL_INS


def _count(django_assert_max_num_queries, client, url: str, limit: int) -> None:
    # A first request reads back the BAL keys the services made inside their own transactions (cached only
    # once known to be committed: apps.mailboxes.keys); the measured one is the steady state.
    assert client.get(url).status_code == 200
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200


def test_it_lists_the_inbox_in_constant_queries(
    paul_client, alice_bal, cardio_bal, dr_alice, django_assert_max_num_queries
):
    for n in range(6):
        send(
            alice_bal, dr_alice, [PAUL_ADDRESS], subject=f"Message {n}", text="...", attachments=[pdf_part()]
        )
    _count(django_assert_max_num_queries, paul_client, reverse("patients:inbox"), 12)


def test_it_lists_documents_and_exchanges_in_constant_queries(
    paul_client, paul_profile, alice_bal, cardio_bal, dr_alice, django_assert_max_num_queries
):
    for n in range(6):
        do_add_document(
            paul_profile,
            filename=f"doc{n}.pdf",
            content_type="application/pdf",
            chunks=[PDF],
            category="other",
            acting_user=None,
        )
        send(alice_bal, dr_alice, [cardio_bal.address], subject="Avis", text=".", patient_ins=PAUL_INS,
             attachments=[pdf_part()])  # fmt: skip
    _count(django_assert_max_num_queries, paul_client, reverse("patients:documents"), 8)
    _count(django_assert_max_num_queries, paul_client, reverse("patients:transparency"), 10)
