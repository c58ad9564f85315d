"""PostgreSQL-only search machinery: pg_trgm and unaccent extensions, trigram GIN indexes and a prefix index.

On SQLite (the `make run` profile) these operations do nothing: the search selector falls back to LIKE there.
"""

from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that is a no-op on any database but PostgreSQL, so the dev SQLite database still migrates."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


_PUBLISHED = "WHERE is_active AND NOT liste_rouge"

class Migration(migrations.Migration):
    dependencies = [("annuaire", "0001_initial")]

    operations = [
        PostgresOnlySQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE EXTENSION IF NOT EXISTS unaccent;",
            migrations.RunSQL.noop,
        ),
        PostgresOnlySQL(
            f"CREATE INDEX bal_search_name_trgm ON annuaire_baladdress USING gin (search_name gin_trgm_ops) {_PUBLISHED}",
            "DROP INDEX IF EXISTS bal_search_name_trgm",
        ),
        PostgresOnlySQL(
            f"CREATE INDEX bal_search_text_trgm ON annuaire_baladdress USING gin (search_text gin_trgm_ops) {_PUBLISHED}",
            "DROP INDEX IF EXISTS bal_search_text_trgm",
        ),
        PostgresOnlySQL(
            "CREATE INDEX bal_search_name_prefix ON annuaire_baladdress "
            f"(search_name varchar_pattern_ops) {_PUBLISHED}",
            "DROP INDEX IF EXISTS bal_search_name_prefix",
        ),
        PostgresOnlySQL(
            f"CREATE INDEX bal_address_prefix ON annuaire_baladdress (address varchar_pattern_ops) {_PUBLISHED}",
            "DROP INDEX IF EXISTS bal_address_prefix",
        ),
    ]
