from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpisConfig(AppConfig):
    """The KPI dashboards: rollup tables refreshed by beat, and the Plotly pages that read them.

    Lives in omnichannel/ (it reads every app, and no app reads it) as its own app label, so its
    tables and migrations are its own."""

    name = "omnichannel.kpis"
    label = "kpis"
    verbose_name = _("KPIs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each area registers its rollups and its page (omnichannel/kpis/registry.py).
        from omnichannel.kpis import (  # noqa: F401
            pages,
            rollups_holders,
            rollups_loyalty,
            rollups_members,
            rollups_messaging,
            rollups_orders,
            segment_figures,
            segments,
        )
