"""Read-only admin views of the directory: rows change only through imports and services (audited)."""

from __future__ import annotations

from django.contrib import admin

from apps.accounts.admin_read_only import ReadOnlyAdmin
from apps.annuaire.models import BalAddress, ExercisePlace, Professional, Structure


@admin.register(Professional)
class ProfessionalAdmin(ReadOnlyAdmin):
    list_display = (
        "national_id",
        "last_name",
        "first_name",
        "profession_label",
        "category",
        "source",
        "is_active",
    )
    list_filter = ("category", "source", "is_active", "id_type")
    search_fields = ("national_id", "last_name")
    show_full_result_count = False  # a COUNT over 1.5 million rows on every page is not worth it


@admin.register(Structure)
class StructureAdmin(ReadOnlyAdmin):
    list_display = ("idnat", "name", "town", "department_code", "sector_label", "is_officine", "is_active")
    list_filter = ("is_officine", "source", "is_active")
    search_fields = ("idnat", "finess", "siret", "name")
    show_full_result_count = False


@admin.register(ExercisePlace)
class ExercisePlaceAdmin(ReadOnlyAdmin):
    list_display = ("professional", "structure", "role_label", "is_active")
    list_select_related = ("professional", "structure")
    raw_id_fields = ("professional", "structure")
    show_full_result_count = False


@admin.register(BalAddress)
class BalAddressAdmin(ReadOnlyAdmin):
    list_display = ("address", "kind", "display_name", "town", "source", "liste_rouge", "is_active")
    list_filter = ("kind", "source", "liste_rouge", "is_active")
    search_fields = ("address",)
    raw_id_fields = ("professional", "structure")
    show_full_result_count = False
