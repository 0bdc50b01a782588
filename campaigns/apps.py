from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns.hooks import register_campaign_member_hook
        from campaigns.personalise import register_campaign_personalisation_fields
        from campaigns.services.sending import SEND_STEP
        from campaigns.services.tracking import register_tracking_event_handlers
        from campaigns.signals_email import connect_email_tracking
        from campaigns.split import register_sqlite_md5
        from campaigns.timeline import register_campaign_timeline_sources
        from omnichannel.jobs import leased_step_register

        register_sqlite_md5()
        register_campaign_personalisation_fields()
        register_campaign_timeline_sources()
        register_campaign_member_hook()
        leased_step_register(SEND_STEP)
        connect_email_tracking()
        register_tracking_event_handlers()
        import campaigns.tasks  # noqa: F401  (the worker_ready handler)
