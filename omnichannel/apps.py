from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OmnichannelConfig(AppConfig):
    name = "omnichannel"
    verbose_name = _("Omnichannel")

    def ready(self) -> None:
        from omnichannel import roles, schedule

        # Models added by later migrations join the role matrix without a new data migration.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="omnichannel-roles")
        post_migrate.connect(schedule.sync_periodic_tasks, dispatch_uid="omnichannel-schedule")
