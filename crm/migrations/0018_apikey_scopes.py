"""API keys get scopes (omnichannel.api.scopes); every key made before is an ingest key."""

from django.db import migrations, models

import crm.models


def existing_keys_ingest(apps, schema_editor):
    # Every key made before scopes wrote to the ingest API; it keeps doing so, and nothing more.
    ApiKey = apps.get_model("crm", "ApiKey")
    ApiKey.objects.update(scopes=["ingest"])  # all of them: the column was just added


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0017_order_change_feed"),
    ]

    operations = [
        # Added empty, then filled by the data migration, then given the default new keys get.
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(blank=True, default=list, verbose_name="scopes"),
        ),
        migrations.RunPython(existing_keys_ingest, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(
                blank=True, default=crm.models._default_scopes, verbose_name="scopes"
            ),
        ),
    ]
