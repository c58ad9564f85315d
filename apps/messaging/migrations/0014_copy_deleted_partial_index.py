"""The copies an IMAP client marked \\Deleted, by folder and UID: a partial index holding only them (they
are few, and only until the next EXPUNGE). EXPUNGE reads them (`apps/imap/mailstore.expunge`), and SEARCH
of a dense word with UNDELETED (every Thunderbird search) subtracts them from the folder
(apps/messaging/store/dense_tokens.lacking): without it, both read every copy of the folder.

Built CONCURRENTLY on PostgreSQL (the migration is not atomic): deposits to the copies table go on while it
is built (under a second over the bench's 1,000,000 copies, where EXPUNGE's query went from 100 ms to
0.03 ms). Raw SQL, as `copy_unread` (0004): a read-path detail."""

from django.db import migrations

NAME = "copy_deleted"
COLUMNS = "messaging_messagecopy (folder_id, uid) WHERE imap_deleted"


def create(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {NAME} ON {COLUMNS}")


def drop(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("messaging", "0013_dense_tokens")]
    operations = [migrations.RunPython(create, drop)]
