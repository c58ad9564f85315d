"""Unread counts of a folder read a small partial index of the unread copies only.

The webmail shows an unread count per folder on every page; with 1,000,000 copies in one BAL a count over
`copy_folder_keyset` would touch every row of the folder. This index holds only unread copies and the count
is capped (apps.messaging.webmail.selectors.UNREAD_CAP), so the cost is bounded whatever the BAL's size. Raw SQL
(valid on PostgreSQL and SQLite) rather than a model index: the index is a read-path detail of the
selectors, not part of the model's state.
"""

from django.db import migrations

TABLE = "messaging_messagecopy"
FORWARD = f"CREATE INDEX IF NOT EXISTS copy_unread ON {TABLE} (mailbox_id, folder_id) WHERE NOT is_read"
BACKWARD = "DROP INDEX IF EXISTS copy_unread"


class Migration(migrations.Migration):
    dependencies = [("messaging", "0003_return_path_and_signature")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
