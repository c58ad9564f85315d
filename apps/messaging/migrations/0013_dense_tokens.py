"""Dense blind-index tokens (issue 16, ADR 0023 "Dense words"): per large folder, the tokens found in nearly
every copy and the UIDs of the copies lacking each, kept by PostgreSQL triggers on the copies
(apps/messaging/store/dense_tokens.py). Empty until the first pass chooses tokens; nothing to backfill."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from apps.messaging.store.dense_tokens import TRIGGER_SQL

        schema_editor.execute(TRIGGER_SQL)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from apps.messaging.store.dense_tokens import DROP_TRIGGER_SQL

        schema_editor.execute(DROP_TRIGGER_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0012_imap_access_version"),
    ]

    operations = [
        migrations.CreateModel(
            name="DenseToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.CharField(max_length=16)),
                ("ready", models.BooleanField(default=False)),
                ("share", models.FloatField()),
                ("chosen_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "folder",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="messaging.folder",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="TokenGap",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "dense", "uid", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("uid", models.BigIntegerField()),
                (
                    "dense",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="messaging.densetoken",
                    ),
                ),
            ],
        ),
        migrations.AddConstraint(
            model_name="densetoken",
            constraint=models.UniqueConstraint(fields=("folder", "token"), name="dense_token_unique"),
        ),
        migrations.RunPython(install, drop),
    ]
