"""apps.trust.tasks.import_liste_blanche: the daily refresh of the beat schedule."""

from __future__ import annotations

import pytest
from celery.exceptions import MaxRetriesExceededError, Retry
from django.conf import settings as django_settings
from django.core import mail

from apps.trust.models import ListeBlancheRefresh, RefreshStatus, TrustedDomain
from apps.trust.tasks import import_liste_blanche
from tests.trust.conftest import SAMPLE_CHECKSUM, SAMPLE_XML, numbered_domains, render_list

pytestmark = pytest.mark.django_db


def test_it_is_scheduled_daily():
    entry = django_settings.CELERY_BEAT_SCHEDULE["trust-liste-blanche-refresh"]
    assert entry["task"] == "apps.trust.tasks.import_liste_blanche"
    assert entry["schedule"] == 24 * 3600


def test_it_imports_from_the_configured_urls_as_the_acting_admin(http_server, settings, admin_olga):
    http_server.files["/lb.xml"] = SAMPLE_XML.read_bytes()
    http_server.files["/checksum"] = SAMPLE_CHECKSUM.read_bytes()
    settings.LISTE_BLANCHE_URL = http_server.url("/lb.xml")
    settings.LISTE_BLANCHE_CHECKSUM_URL = http_server.url("/checksum")

    result = import_liste_blanche.apply(kwargs={"actor_id": admin_olga.pk})

    refresh = ListeBlancheRefresh.objects.get(pk=result.get())
    assert refresh.status == RefreshStatus.APPLIED and refresh.checksum_verified
    assert refresh.actor == admin_olga
    assert TrustedDomain.objects.filter(is_active=True).count() == 516


def test_it_retries_a_download_failure_but_not_a_rejected_file(
    http_server, settings, admin_olga, django_capture_on_commit_callbacks
):
    settings.LISTE_BLANCHE_URL = http_server.url("/absent.xml")
    settings.LISTE_BLANCHE_CHECKSUM_URL = ""
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Retry):
        import_liste_blanche.apply(throw=True)  # the worker re-queues it 15 minutes later (max 3 times)
    assert list(ListeBlancheRefresh.objects.values_list("reason_code", flat=True)) == ["download"]
    assert mail.outbox == []  # no mail while retries remain
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(MaxRetriesExceededError):
        import_liste_blanche.apply(throw=True, retries=3)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [admin_olga.email]
    mail.outbox.clear()

    http_server.files["/lb.xml"] = render_list(numbered_domains(10))
    http_server.files["/small.xml"] = render_list(numbered_domains(2))
    settings.LISTE_BLANCHE_URL = http_server.url("/lb.xml")
    assert import_liste_blanche.apply().successful()
    settings.LISTE_BLANCHE_URL = http_server.url("/small.xml")
    with django_capture_on_commit_callbacks(execute=True):
        result = import_liste_blanche.apply()
    assert result.successful()  # refused once, admins mailed at once, no retry storm
    assert len(mail.outbox) == 1
    assert ListeBlancheRefresh.objects.filter(status=RefreshStatus.REJECTED).count() == 1
    assert TrustedDomain.objects.filter(is_active=True).count() == 10
