"""The KPI pages, each registered once (omnichannel/kpis/registry.py PAGES)."""

from django.utils.translation import gettext_lazy as _

from omnichannel.channels import MESSAGING_CHANNELS, SALES_CHANNELS
from omnichannel.kpis.pages.channels import sales_section, sales_tiles
from omnichannel.kpis.pages.channels_messaging import messaging_section, messaging_tiles
from omnichannel.kpis.pages.loyalty import (
    coupons_section,
    frequency_section,
    loyalty_headline,
    points_section,
    tiers_section,
    wallet_section,
)
from omnichannel.kpis.pages.members import (
    acquisition_section,
    cohort_section,
    members_tiles,
    omo_section,
    rfm_section,
    value_section,
)
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

PAGES.register(
    KpiPage(
        slug="members",
        title=_("Members / OMO"),
        icon="people",
        description=_(
            "Who joins and through which channel, who buys both online and in store, what "
            "members are worth, and how each month's new buyers keep buying."
        ),
        sections=(acquisition_section, omo_section, value_section, rfm_section, cohort_section),
        # The channel filter is how members joined (acquisition channel) for new members,
        # and the sales channel for active members.
        channels=SALES_CHOICES + MESSAGING_CHOICES,
        order=20,
    )
)

PAGES.register(
    KpiPage(
        slug="loyalty",
        title=_("Loyalty"),
        icon="award",
        description=_(
            "Points issued, redeemed and expired, what the points outstanding may cost, tiers, "
            "coupons and wallet cards."
        ),
        sections=(
            points_section,
            tiers_section,
            coupons_section,
            wallet_section,
            frequency_section,
        ),
        # Points, tiers, coupons and wallets belong to no store or channel; the segment
        # narrows the member-grained figure (the wallet holders' purchase frequency).
        filters=("period", "segment", "compare"),
        order=30,
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
HEADLINES.register(
    Headline(
        key="loyalty",
        title=_("Loyalty"),
        page_slug="loyalty",
        build=loyalty_headline,
        order=30,
    )
)
HEADLINES.register(
    Headline(key="members", title=_("Members"), page_slug="members", build=members_tiles, order=15)
)
