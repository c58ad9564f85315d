"""Read-only admin view of the inbound spool (metadata only: the content is encrypted in the blob store).

Re-queuing a failed message goes through `manage.py gateway_spool --retry <id>` (audited), not the admin.
"""

from __future__ import annotations

from django.contrib import admin

from apps.accounts.admin_read_only import ReadOnlyAdmin
from apps.gateway.models import InboundMessage


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "state", "envelope_sender", "peer_dn", "size", "attempts", "last_error")
    list_filter = ("state",)
    search_fields = ("envelope_sender", "peer_dn", "id")
    ordering = ("-received_at",)
    exclude = ("key_wrap", "ciphertext")
