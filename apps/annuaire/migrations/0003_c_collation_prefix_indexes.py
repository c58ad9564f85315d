"""Prefix indexes in the "C" collation: they serve both `name >= 'dup' AND name < 'duq'` and
`ORDER BY name COLLATE "C"`, so an autocomplete prefix query stops after 10 index entries. The
varchar_pattern_ops indexes of 0002 served the LIKE but not the ORDER BY (a sort of every match).
search_name and address are ASCII lowercase, so the C order is the natural order. PostgreSQL only.
"""

from django.db import migrations

from apps.annuaire.migrations._postgres import PostgresOnlySQL

_PUBLISHED = "WHERE is_active AND NOT liste_rouge"


class Migration(migrations.Migration):
    dependencies = [("annuaire", "0002_search_indexes")]

    operations = [
        PostgresOnlySQL(
            "DROP INDEX IF EXISTS bal_search_name_prefix; "
            f'CREATE INDEX bal_search_name_prefix ON annuaire_baladdress (search_name COLLATE "C") {_PUBLISHED}',
            "DROP INDEX IF EXISTS bal_search_name_prefix; "
            f"CREATE INDEX bal_search_name_prefix ON annuaire_baladdress (search_name varchar_pattern_ops) {_PUBLISHED}",
        ),
        PostgresOnlySQL(
            "DROP INDEX IF EXISTS bal_address_prefix; "
            f'CREATE INDEX bal_address_prefix ON annuaire_baladdress (address COLLATE "C") {_PUBLISHED}',
            "DROP INDEX IF EXISTS bal_address_prefix; "
            f"CREATE INDEX bal_address_prefix ON annuaire_baladdress (address varchar_pattern_ops) {_PUBLISHED}",
        ),
    ]
