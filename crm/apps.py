from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ready_made_segments_after_migrate(sender: AppConfig, using: str = "default", **kwargs) -> None:
    """Write the ready-made segments once crm's tables exist (a migrate to an older state may
    not have the segment table yet)."""
    from django.db import connections

    from crm.models import Segment
    from crm.services.segments import segments_ready_made_sync

    if Segment._meta.db_table in connections[using].introspection.table_names():
        segments_ready_made_sync()


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Members")

    def ready(self) -> None:
        from crm.jobs import register_crm_leased_steps
        from crm.segments.rules import register_crm_rules
        from crm.timeline_sources import register_crm_timeline_sources

        register_crm_rules()
        post_migrate.connect(
            _ready_made_segments_after_migrate, sender=self, dispatch_uid="crm-ready-made-segments"
        )
        register_crm_timeline_sources()
        register_crm_leased_steps()
        _register_audit_summary_values()


def _register_audit_summary_values() -> None:
    """Source codes in the audit trail's summaries read as labels ("匯入：會員名單")."""
    from crm.labels import source_label
    from omnichannel.models import AUDIT_SUMMARY_VALUES, AuditSummaryValue

    AUDIT_SUMMARY_VALUES.register(AuditSummaryValue(param="source", label=source_label))
