"""IMAP UIDs (issue 16): Folder.uidnext, MessageCopy.uid, the (folder, uid) index, existing copies numbered
in committed batches (non-atomic migration: no lock held for more than one batch), and the trigger that
numbers copies inserted or moved without a UID and announces changes to IMAP sessions (PostgreSQL)."""

from django.db import migrations, models


def number_copies(apps, schema_editor):
    from apps.messaging.store import uids

    uids.number_existing()


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from apps.messaging.store.uids import NOTIFY_SQL, TRIGGER_SQL

        schema_editor.execute(TRIGGER_SQL)
        schema_editor.execute(NOTIFY_SQL)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from apps.messaging.store.uids import DROP_TRIGGER_SQL

        schema_editor.execute(DROP_TRIGGER_SQL)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("messaging", "0009_fewer_indexes")]

    operations = [
        migrations.AddField(model_name="folder", name="uidnext", field=models.BigIntegerField(default=1)),
        migrations.AddField(
            model_name="messagecopy", name="uid", field=models.BigIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="messagecopy", name="imap_deleted", field=models.BooleanField(default=False)
        ),
        migrations.RunPython(install_trigger, drop_trigger),
        migrations.RunPython(number_copies, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="messagecopy", index=models.Index(fields=["folder", "uid"], name="copy_folder_uid")
        ),
    ]
