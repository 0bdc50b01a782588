from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

EARN_DRAIN_UID = "loyalty-earn-drain"


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self) -> None:
        from crm.signals import order_changes_written
        from loyalty.tasks import earn_drain_request

        # Orders earn promptly after an import, API or demo batch commits (the beat job is
        # the safety net); crm knows nothing of loyalty.
        order_changes_written.connect(earn_drain_request, dispatch_uid=EARN_DRAIN_UID)
