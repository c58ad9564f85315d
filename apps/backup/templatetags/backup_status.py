"""`{% backup_panel %}`: the backups card of the operator's home page (operator admins only)."""

from __future__ import annotations

from typing import Any

from django import template

from apps.backup.selectors import backup_status

register = template.Library()


@register.inclusion_tag("backup/_home_panel.html", takes_context=True)
def backup_panel(context: dict[str, Any]) -> dict[str, Any]:
    return {"status": backup_status()}
