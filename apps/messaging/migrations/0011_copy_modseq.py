"""IMAP push of flag changes (issue 16): MessageCopy.modseq, its partial (folder, modseq) index (empty until
flags change: deposits add nothing to it) and the triggers that stamp it (PostgreSQL)."""

from django.db import migrations, models


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from apps.messaging.store.uids import MODSEQ_SQL

        schema_editor.execute(MODSEQ_SQL)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from apps.messaging.store.uids import DROP_MODSEQ_SQL

        schema_editor.execute(DROP_MODSEQ_SQL)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0010_imap_uids")]

    operations = [
        migrations.AddField(
            model_name="messagecopy", name="modseq", field=models.BigIntegerField(blank=True, null=True)
        ),
        migrations.AddIndex(
            model_name="messagecopy",
            index=models.Index(
                condition=models.Q(("modseq__isnull", False)),
                fields=["folder", "modseq"],
                name="copy_folder_modseq",
            ),
        ),
        migrations.RunPython(install, drop),
    ]
