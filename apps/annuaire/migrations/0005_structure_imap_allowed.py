"""Issue 16: a structure or operator admin may turn IMAP off for every BAL of a structure."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annuaire", "0004_name_lexicon")]

    operations = [
        migrations.AddField(
            model_name="structure",
            name="imap_allowed",
            field=models.BooleanField(
                db_default=True, default=True, verbose_name="accès IMAP des BAL de la structure"
            ),
        ),
    ]
