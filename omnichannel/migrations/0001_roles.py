"""Create the Admin, Marketer and Analyst groups with the permissions of the role matrix."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    from omnichannel.roles import sync_roles

    # Permissions are normally created after all migrations; make them now so the groups
    # start complete. post_migrate re-syncs later models (omnichannel.apps).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_roles(group_model=apps.get_model("auth", "Group"),
               permission_model=apps.get_model("auth", "Permission"))


def delete_roles(apps, schema_editor):
    from omnichannel.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
