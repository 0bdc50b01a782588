"""The KPI pages, each registered once (omnichannel/kpis/registry.py PAGES)."""

from django.utils.translation import gettext_lazy as _

from omnichannel.channels import MESSAGING_CHANNELS, SALES_CHANNELS
from omnichannel.kpis.pages.channels import sales_section, sales_tiles
from omnichannel.kpis.pages.channels_messaging import messaging_section, messaging_tiles
from omnichannel.kpis.registry import HEADLINES, PAGES, Headline, KpiPage

SALES_CHOICES = tuple((channel.value, channel.label) for channel in SALES_CHANNELS)
MESSAGING_CHOICES = tuple((channel.value, channel.label) for channel in MESSAGING_CHANNELS)

PAGES.register(
    KpiPage(
        slug="channels",
        title=_("Channels"),
        icon="diagram-2",
        description=_("Which channel sells, and which message reaches and converts."),
        sections=(sales_section, messaging_section),
        channels=SALES_CHOICES + MESSAGING_CHOICES,
        order=10,
    )
)


HEADLINES.register(
    Headline(key="sales", title=_("Sales"), page_slug="channels", build=sales_tiles, order=10)
)
HEADLINES.register(
    Headline(
        key="messaging",
        title=_("Messaging"),
        page_slug="channels",
        build=messaging_tiles,
        order=20,
    )
)
