"""PostgreSQL only: the French text-search configuration with unaccent, and the GIN index of the blind index.

`mssante_fr` stems French words without accents; it is used to *tokenise* text at deposit and at query
time (the plaintext passes through the connection but is never stored). The stored `search_tokens` are
HMACs of those lexemes (docs/decisions/0008-messaging.md), indexed with btree_gin so the BAL restriction is
part of the index.
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS btree_gin;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'mssante_fr') THEN
    CREATE TEXT SEARCH CONFIGURATION mssante_fr (COPY = french);
    ALTER TEXT SEARCH CONFIGURATION mssante_fr
      ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem;
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS copy_search_gin ON messaging_messagecopy
  USING gin (mailbox_id, search_tokens) WHERE search_tokens IS NOT NULL;
"""

BACKWARD = "DROP INDEX IF EXISTS copy_search_gin;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
