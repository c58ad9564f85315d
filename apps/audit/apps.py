from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.backends.signals import connection_created


def _allow_test_flush(sender: Any, connection: Any, **kwargs: Any) -> None:
    # Transactional tests empty every table with TRUNCATE between tests; the journal's TRUNCATE trigger
    # (migration 0003) lets that through only on connections opened by the test suite.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET mssante.audit_allow_truncate = 'on'")


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Journal de traçabilité"

    def ready(self) -> None:
        if settings.TESTING:
            connection_created.connect(_allow_test_flush, dispatch_uid="audit_allow_test_flush")
