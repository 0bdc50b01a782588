"""Factories of the report's figures: the report reads these rows only, so its tests write
them directly instead of sending and converting."""

import datetime

import factory
from factory.django import DjangoModelFactory

from campaigns.models import Campaign, CampaignFigures, CampaignFiguresDaily


class CampaignFactory(DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"週年慶 {n}")
    channels = factory.LazyFunction(lambda: ["line"])
    status = Campaign.Status.DONE


class FiguresFactory(DjangoModelFactory):
    """The sent group of variant A on LINE unless told otherwise."""

    class Meta:
        model = CampaignFigures

    campaign = factory.SubFactory(CampaignFactory)
    arm = CampaignFigures.Arm.SENT
    variant = "A"
    channel = "line"
    members = 1000
    sent = factory.LazyAttribute(lambda row: row.members)
    delivered = factory.LazyAttribute(lambda row: row.sent)

    class Params:
        held_out = factory.Trait(variant="", channel="", sent=0, delivered=0)


class FiguresDailyFactory(DjangoModelFactory):
    class Meta:
        model = CampaignFiguresDaily

    campaign = factory.SubFactory(CampaignFactory)
    day = datetime.date(2026, 11, 20)
    arm = CampaignFigures.Arm.SENT
    variant = "A"
    orders = 1
    revenue_twd = 1000
