"""Names shared by messaging's modules, kept in a leaf so that none of them imports another for a constant."""

from __future__ import annotations

from apps.messaging.models import DeliveryState

# States in which a message still waits to leave: its transit key must stay (services_delivery).
TRANSIT_STATES = (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.HELD)

# Celery task names (mssante_lib.jobs): services enqueue by name, only tasks.py imports services.
DELIVER_TASK = "apps.messaging.tasks.deliver_message"
DEPOSIT_TASK = "apps.messaging.tasks.deposit_queued"
READ_RECEIPT_TASK = "apps.messaging.tasks.send_read_receipt"
