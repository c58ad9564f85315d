"""Small partial prefix indexes over the BALs hosted here (PostgreSQL only).

The autocomplete looks for hosted BALs first (issue 14): a name or address prefix among `source = 'local'`
rows. With only the prefix indexes of all published rows, PostgreSQL walked every imported name starting
with "mor" to find no hosted one (155 ms at 1.5 M rows); these indexes hold the hosted rows only.
"""

from django.db import migrations

from apps.annuaire.migrations._postgres import PostgresOnlySQL

_HOSTED = "WHERE source = 'local' AND is_active AND NOT liste_rouge"


class Migration(migrations.Migration):

    dependencies = [
        ("annuaire", "0006_search_word_lexicon"),
    ]

    operations = [
        PostgresOnlySQL(
            f'CREATE INDEX bal_hosted_name_prefix ON annuaire_baladdress (search_name COLLATE "C") {_HOSTED}',
            "DROP INDEX IF EXISTS bal_hosted_name_prefix",
        ),
        PostgresOnlySQL(
            f'CREATE INDEX bal_hosted_address_prefix ON annuaire_baladdress (address COLLATE "C") {_HOSTED}',
            "DROP INDEX IF EXISTS bal_hosted_address_prefix",
        ),
    ]
