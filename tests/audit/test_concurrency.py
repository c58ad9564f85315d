"""1,000 events written concurrently by several OS processes, sealed meanwhile, all end in one valid chain."""

import multiprocessing
from urllib.parse import quote

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.services import do_seal_pending
from apps.audit.verify import verify_chain
from tests.audit import concurrency_workers

WRITERS, PER_WRITER, SEALERS = 4, 250, 2


def _child_env() -> dict[str, str]:
    # The children must reach the test database (test_<name>), not the one DATABASE_URL names.
    db = connection.settings_dict
    credentials = quote(db["USER"], safe="") + (
        f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    )
    url = f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"
    return {"DATABASE_URL": url, "MSSANTE_TESTING": "1", "DJANGO_SETTINGS_MODULE": "mssante_web.settings"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_seals_events_written_concurrently_into_one_valid_chain():
    ctx = multiprocessing.get_context("spawn")
    env, done, sealed_total = _child_env(), ctx.Event(), ctx.Value("q", 0)
    sealers = [
        ctx.Process(target=concurrency_workers.seal_until, args=(env, done, sealed_total))
        for _ in range(SEALERS)
    ]
    writers = [
        ctx.Process(target=concurrency_workers.write_events, args=(env, worker, PER_WRITER))
        for worker in range(WRITERS)
    ]
    for process in sealers + writers:
        process.start()
    for process in writers:
        process.join(120)
    done.set()
    for process in sealers:
        process.join(60)

    assert [process.exitcode for process in writers + sealers] == [0] * (WRITERS + SEALERS)
    remaining = do_seal_pending()
    assert sealed_total.value + remaining == WRITERS * PER_WRITER
    assert sealed_total.value > 0  # the sealers did run while the writers wrote
    seqs = list(AuditEvent.objects.order_by("seal_seq").values_list("seal_seq", flat=True))
    assert seqs == list(range(1, WRITERS * PER_WRITER + 1))
    result = verify_chain(max_unsealed_age=0)
    assert result.ok, result.report_lines()
    assert result.checked == WRITERS * PER_WRITER
