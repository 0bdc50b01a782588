"""On PostgreSQL, generated member numbers come from a real sequence.

nextval() takes no row lock, so API calls creating members no longer queue behind one another
on the NumberSequence row until each commits. The sequence starts after the last number the
row handed out; SQLite keeps the row (one writer at a time there anyway).
"""

from django.db import migrations

SEQUENCE = "crm_member_no_seq"


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    NumberSequence = apps.get_model("crm", "NumberSequence")
    row = NumberSequence.objects.filter(name="member_no").first()
    start = (row.last_value if row else 0) + 1
    schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} START {int(start)}")


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0012_membernote")]

    operations = [migrations.RunPython(create_sequence, drop_sequence)]
