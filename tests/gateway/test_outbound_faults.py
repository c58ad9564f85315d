"""Outbound delivery when things go wrong: a remote operator down, a worker killed mid-send, two workers
racing the same delivery. The remote is a real aiosmtpd server (STARTTLS, client certificate required) that
counts what it accepts.

The guarantee, stated exactly: SMTP has no exactly-once. Our side sends a delivery again only if it is
still `sending` when the sweeper looks, i.e. its worker died between the claim and the state update that
follows the remote's 250. A death before the remote stored the message costs nothing (sent once, later);
a death after the remote stored it but before we recorded `delivered` makes the sweeper send it a second
time: at-least-once, with a duplicate that carries the same Message-ID (so the receiver can tell). Nothing
is ever lost, and a delivery that reached `delivered` is never sent again (the claim needs `queued`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.gateway.pki import subject
from apps.messaging.compose.selectors import get_timeline
from apps.messaging.delivery.deliver import RETRY_DELAYS, do_deliver, do_sweep_deliveries
from apps.messaging.delivery.submit import enqueue_deliveries
from apps.messaging.delivery.transports import TemporaryFailure
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message, MessageCopy
from apps.messaging.store import blobs
from tests.gateway.conftest import PEER_DOMAIN, PEER_SUBJECT, list_domain
from tests.gateway.remote_operator import RemoteOperator, _Handler
from tests.messaging.helpers import send
from tests.plugins.throwaway import free_port, wait_until

UNREACHABLE = f"Le serveur de messagerie de {PEER_DOMAIN} est injoignable pour le moment"


@dataclass
class _PausingHandler(_Handler):
    """Stores the message, then waits `pause` seconds before its 250: a worker killed during that pause
    has been accepted by the remote without knowing it (the window where a resend duplicates)."""

    pause: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.pause)
        return reply


class Remote(RemoteOperator):
    """The remote operator on a port chosen by the test (so it can come back where it was down)."""

    def __init__(self, identity: Any, ca_path: Any, port: int, pause: float = 0.0) -> None:
        super().__init__(identity, ca_path)
        self.handler = _PausingHandler(pause=pause)
        self.controller.handler = self.handler
        self.controller.port = port

    def counts(self) -> Counter[str]:
        return Counter(rcpt for got in self.received for rcpt in got.recipients)


@pytest.fixture(scope="session")
def remote_mx(pki):
    return pki.ca.issue(
        "faults-mx", subject(**PEER_SUBJECT), server_names=("localhost", "127.0.0.1"), server=True
    )


@pytest.fixture
def route(pki, settings):
    """Our outbound settings towards PEER_DOMAIN at 127.0.0.1:<port>; nothing listens there yet."""
    port = free_port()
    list_domain(PEER_DOMAIN, pki.peer.dn)
    settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=127.0.0.1:{port}"]
    settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
    settings.GATEWAY_CERT_FILE = str(pki.server.cert_path)
    settings.GATEWAY_KEY_FILE = str(pki.server.key_path)
    yield port


def _sweep_at(later: dt.datetime) -> list[int]:
    ids = do_sweep_deliveries(now=later)
    enqueue_deliveries(ids)
    return ids


def _later() -> dt.datetime:
    """When the periodic sweeper would next act on a delivery left alone now (back-off and stuck delay)."""
    return timezone.now() + dt.timedelta(seconds=max(settings.DELIVERY_STUCK_AFTER, RETRY_DELAYS[-1]) + 1)


# --- (a) the remote operator's server is down ---


@pytest.mark.django_db
def test_it_retries_with_back_off_while_the_remote_is_down_and_delivers_once_it_is_back(
    route, remote_mx, pki, alice_bal, dr_alice
):
    recipient = f"dr.voisin@{PEER_DOMAIN}"
    message = send(alice_bal, dr_alice, [recipient], subject="Avis", text="Bonjour", deliver=False)
    delivery = Delivery.objects.get(message=message)

    with pytest.raises(TemporaryFailure):  # port closed: connection refused
        do_deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.QUEUED, 1)
    assert delivery.next_attempt_at - delivery.state_changed_at == dt.timedelta(seconds=RETRY_DELAYS[0])
    assert delivery.next_attempt_at > timezone.now() and delivery.error_text.startswith(UNREACHABLE)
    assert do_sweep_deliveries() == []  # the back-off holds: nothing is retried before its time

    # Second attempt, still down: the next delay is longer, and the sender's timeline says why, in French.
    assert _sweep_at(_later()) == [delivery.pk]
    with pytest.raises(TemporaryFailure):
        do_deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.QUEUED, 2)
    assert delivery.next_attempt_at - delivery.state_changed_at == dt.timedelta(seconds=RETRY_DELAYS[1])
    [row] = get_timeline(message)
    assert row.state_label == DeliveryState.QUEUED.label
    assert row.reason.startswith(f"Nouvelle tentative prévue (2 essais) : {UNREACHABLE}")
    # A temporary failure never bounces.
    assert not MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX).exists()

    with Remote(remote_mx, pki.ca.cert_path, route) as remote:  # back, on the same port
        assert _sweep_at(_later()) == [delivery.pk]
        assert do_deliver(delivery.pk) == DeliveryState.DELIVERED
        assert do_deliver(delivery.pk) == DeliveryState.DELIVERED  # a late duplicate task sends nothing

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.error_text) == (DeliveryState.DELIVERED, 3, "")
    assert remote.counts() == {recipient: 1}
    assert "OPERATEUR TEST" in remote.received[0].peer_subject  # our client certificate was presented
    [row] = get_timeline(message)
    assert row.reason == "" and [s.key for s in row.steps if s.done] == ["sent", "delivered"]


# --- (b) a worker killed with SIGKILL while sending ---


def _states(message_ids: list[Any]) -> dict[str, str]:
    return dict(Delivery.objects.filter(message_id__in=message_ids).values_list("recipient", "state"))


def _message_ids_received(remote: Remote, recipient: str) -> set[str]:
    return {
        str(message_from_bytes(got.data)["Message-ID"])
        for got in remote.received
        if recipient in got.recipients
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_send_loses_nothing_and_resends_only_what_the_remote_took_unacknowledged(
    route, remote_mx, pki, celery_queue, celery_worker_factory, alice_bal, dr_alice
):
    recipients = [f"dr.n{n}@{PEER_DOMAIN}" for n in range(10)]
    messages = [
        send(alice_bal, dr_alice, [address], deliver=False, subject=f"Résultat {n}", text="…").pk
        for n, address in enumerate(recipients)
    ]
    assert len(celery_queue.pending()) == len(recipients)

    with Remote(remote_mx, pki.ca.cert_path, route, pause=2.0) as remote:
        worker = celery_worker_factory(
            concurrency=2,
            extra_env={
                "GATEWAY_ROUTES": ",".join(settings.GATEWAY_ROUTES),
                "GATEWAY_CA_FILES": str(pki.ca.cert_path),
                "GATEWAY_CERT_FILE": str(pki.server.cert_path),
                "GATEWAY_KEY_FILE": str(pki.server.key_path),
                "CELERY_VISIBILITY_TIMEOUT": "3",
                "MESSAGE_STORE_DIR": str(blobs.store_dir()),  # the raw messages this process stored
            },
        )

        def in_window() -> set[str]:
            """Stored by the remote while our delivery is still `sending`: a kill now makes a duplicate."""
            states = _states(messages)
            return {r for r in remote.counts() if states.get(r) == DeliveryState.SENDING}

        try:
            wait_until(
                lambda: list(_states(messages).values()).count(DeliveryState.DELIVERED) >= 2 and in_window(),
                timeout=90,
                what="two deliveries done and a third stored by the remote but not yet acknowledged",
            )
        except TimeoutError as exc:
            raise AssertionError(f"{_states(messages)}\n{worker.output()}") from exc
        worker.kill(signal.SIGKILL)
        time.sleep(1.0)  # the remote finishes what it was receiving when the client died

        at_kill = _states(messages)
        window = in_window()
        assert window, "the kill must land after the remote stored a message and before its 250"
        assert DeliveryState.QUEUED in at_kill.values()  # ...and in the middle of the batch
        assert set(remote.counts().values()) == {1}  # nothing sent twice so far

        # Recovery: the sweeper re-queues what the dead worker held; Redis also redelivers its unacked tasks.
        remote.handler.pause = 0.0
        swept = _sweep_at(_later())
        assert set(swept) >= {
            d.pk for d in Delivery.objects.filter(message_id__in=messages, state=DeliveryState.SENDING)
        }
        worker.start()
        wait_until(
            lambda: set(_states(messages).values()) == {DeliveryState.DELIVERED},
            timeout=120,
            what="every delivery done after the restart",
        )
        time.sleep(4)  # redelivered and duplicated tasks run too: the claim makes them no-ops
        counts = remote.counts()

    # None lost; sent twice exactly those the remote had taken when the worker died, and no other.
    assert counts == {r: 2 if r in window else 1 for r in recipients}
    expected_ids = dict(Delivery.objects.filter(message_id__in=messages).values_list("recipient", "message"))
    for address in recipients:  # a duplicate is the same message: the receiver can recognise it
        message = Message.objects.get(pk=expected_ids[address])
        assert _message_ids_received(remote, address) == {message.message_id}
    assert (
        not Delivery.objects.filter(message_id__in=messages).exclude(state=DeliveryState.DELIVERED).exists()
    )
    assert (
        AuditEvent.objects.filter(action="message.delivered", target_id__in=map(str, messages)).count() == 10
    )
    assert not MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX).exists()


# --- (c) two workers racing the same delivery ---


def _race(delivery_id: int, contenders: int) -> list[str]:
    """`contenders` threads (each with its own database connection) call do_deliver at the same instant."""
    barrier = threading.Barrier(contenders)
    results: list[str] = []

    def contender() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(do_deliver(delivery_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=contender) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_it_sends_once_when_two_workers_race_for_the_same_delivery(
    route, remote_mx, pki, celery_queue, alice_bal, dr_alice
):
    recipients = [f"dr.course{n}@{PEER_DOMAIN}" for n in range(6)]
    messages = [
        send(alice_bal, dr_alice, [address], deliver=False, subject="Course", text="…").pk
        for address in recipients
    ]
    celery_queue.purge()  # the race is between the threads below, not with a worker
    with Remote(remote_mx, pki.ca.cert_path, route) as remote:
        for delivery in Delivery.objects.filter(message_id__in=messages):
            results = _race(delivery.pk, contenders=2)
            # The winner reports `delivered`; the loser saw the claim taken (`sending`) or already done.
            assert DeliveryState.DELIVERED in results and len(results) == 2
            assert set(results) <= {DeliveryState.DELIVERED, DeliveryState.SENDING}

    assert remote.counts() == dict.fromkeys(recipients, 1)
    attempts = set(Delivery.objects.filter(message_id__in=messages).values_list("state", "attempts"))
    assert attempts == {(DeliveryState.DELIVERED, 1)}  # one claim each: the loser never incremented it
    assert (
        AuditEvent.objects.filter(action="message.delivered", target_id__in=map(str, messages)).count() == 6
    )
