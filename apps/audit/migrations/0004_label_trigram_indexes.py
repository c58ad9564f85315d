"""Trigram indexes for the journal search's "contains" filters on actor and BAL labels (PostgreSQL only).

Django's `icontains` is `UPPER(col::text) LIKE UPPER(%s)`: the indexes are on that very expression so the
planner can use them. A no-op on SQLite (the dev database), which scans.
"""

from django.db import migrations

FORWARD_SQL = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS audit_actor_label_trgm ON audit_auditevent
    USING gin ((UPPER(actor_label::text)) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS audit_mailbox_label_trgm ON audit_auditevent
    USING gin ((UPPER(mailbox_label::text)) gin_trgm_ops);
"""

REVERSE_SQL = """
DROP INDEX IF EXISTS audit_actor_label_trgm;
DROP INDEX IF EXISTS audit_mailbox_label_trgm;
"""


def _run_on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_guard_triggers"),
    ]

    operations = [
        migrations.RunPython(_run_on_postgresql(FORWARD_SQL), _run_on_postgresql(REVERSE_SQL)),
    ]
