"""Exact-word GIN indexes over the search columns (PostgreSQL only; issue 14 point 5, ADR 0026).

`string_to_array(search_text, ' ')` and `string_to_array(search_name, ' ')`: one posting list per directory
word. A query word, once resolved to the lexicon words that contain it or are within its allowed edits, is
looked up as `words && ARRAY[...]`: the index intersects a few exact posting lists instead of rechecking
every row that shares the trigrams of a common word (« bordeaux » is in 60,000 rows at 1.5 M entries).
Kept in sync with import_pg.SEARCH_INDEXES (dropped and rebuilt around a first load).

The planner takes no statistics from a partial index's expression, so without more it guessed that
`words && ARRAY[…]` keeps 5-20 % of the rows and, under a LIMIT, scanned the whole table (« lauoe roher »:
2.4 s). Expression statistics (PostgreSQL 14+) on the same two expressions give it the words' frequencies
(then 88 rows estimated, 31 found, 1.4 ms); ANALYZE (the import runs it) keeps them current.
"""

from django.db import migrations

from apps.annuaire.migrations._postgres import PostgresOnlySQL

_PUBLISHED = "WHERE is_active AND NOT liste_rouge"


class Migration(migrations.Migration):

    dependencies = [
        ("annuaire", "0007_hosted_prefix_indexes"),
    ]

    operations = [
        PostgresOnlySQL(
            "CREATE INDEX bal_search_text_words ON annuaire_baladdress "
            f"USING gin (string_to_array(search_text, ' ')) {_PUBLISHED}",
            "DROP INDEX IF EXISTS bal_search_text_words",
        ),
        PostgresOnlySQL(
            "CREATE INDEX bal_search_name_words ON annuaire_baladdress "
            f"USING gin (string_to_array(search_name, ' ')) {_PUBLISHED}",
            "DROP INDEX IF EXISTS bal_search_name_words",
        ),
        PostgresOnlySQL(
            "CREATE STATISTICS bal_search_text_words_stats ON (string_to_array(search_text, ' ')) "
            "FROM annuaire_baladdress",
            "DROP STATISTICS IF EXISTS bal_search_text_words_stats",
        ),
        PostgresOnlySQL(
            "CREATE STATISTICS bal_search_name_words_stats ON (string_to_array(search_name, ' ')) "
            "FROM annuaire_baladdress",
            "DROP STATISTICS IF EXISTS bal_search_name_words_stats",
        ),
        PostgresOnlySQL("ANALYZE annuaire_baladdress", migrations.RunSQL.noop),
    ]
