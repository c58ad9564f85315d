"""Read-only Django admin views of the liste blanche: every change goes through apps.trust.services."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.accounts.admin_read_only import ReadOnlyAdmin
from apps.trust.models import ListeBlancheRefresh, OperatorCertificateDN, TrustedDomain


class DNInline(admin.TabularInline):
    model = OperatorCertificateDN
    fields = ("dn", "is_active", "date_maj", "first_seen", "last_seen")
    readonly_fields = ("dn", "is_active", "date_maj", "first_seen", "last_seen")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TrustedDomain)
class TrustedDomainAdmin(ReadOnlyAdmin):
    list_display = ["name_unicode", "name", "description", "is_active", "date_maj", "last_seen"]
    list_filter = ["is_active"]
    search_fields = ["name", "name_unicode", "description", "certificate_dns__dn"]
    inlines = [DNInline]


@admin.register(ListeBlancheRefresh)
class ListeBlancheRefreshAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "status",
        "domain_count",
        "added_count",
        "removed_count",
        "checksum_verified",
    ]
    list_filter = ["status"]
