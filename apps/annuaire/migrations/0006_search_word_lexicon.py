"""The typo lexicon holds every word of the search rows, not only the first word of the names (issue 14).

`SearchWord` replaces `NameWord`: first names, professions, structures and towns get typo tolerance too
(« Alise Martin », « cardiologie ajacio »). PostgreSQL also gets fuzzystrmatch (`levenshtein_less_equal`).
See docs/decisions/0026-multi-word-typos.md.
"""

from django.db import migrations, models

from apps.annuaire.migrations._postgres import PostgresOnlySQL

_FILL_SQL = (
    "INSERT INTO annuaire_searchword (word) "
    "SELECT DISTINCT word FROM annuaire_baladdress, unnest(string_to_array(search_text, ' ')) AS word "
    "WHERE is_active AND NOT liste_rouge AND length(word) BETWEEN 3 AND 100 AND word !~ '^[0-9]+$' "
    "ON CONFLICT (word) DO NOTHING"
)


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_FILL_SQL)
        return
    bal_address, search_word = apps.get_model("annuaire", "BalAddress"), apps.get_model("annuaire", "SearchWord")
    words: set[str] = set()
    for text in bal_address.objects.filter(is_active=True, liste_rouge=False).values_list("search_text", flat=True):
        words |= {word for word in text.split() if 3 <= len(word) <= 100 and not word.isdigit()}
    search_word.objects.bulk_create([search_word(word=word) for word in sorted(words)], ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("annuaire", "0005_structure_imap_allowed"),
    ]

    operations = [
        PostgresOnlySQL("CREATE EXTENSION IF NOT EXISTS fuzzystrmatch", migrations.RunSQL.noop),
        migrations.CreateModel(
            name="SearchWord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("word", models.CharField(max_length=100, unique=True)),
            ],
            options={
                "verbose_name": "mot du lexique de l'annuaire",
            },
        ),
        PostgresOnlySQL(
            "CREATE INDEX searchword_trgm ON annuaire_searchword USING gin (word gin_trgm_ops)",
            "DROP INDEX IF EXISTS searchword_trgm",
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        PostgresOnlySQL(
            "DROP INDEX IF EXISTS nameword_trgm",
            "CREATE INDEX nameword_trgm ON annuaire_nameword USING gin (word gin_trgm_ops)",
        ),
        migrations.DeleteModel(name="NameWord"),
    ]
