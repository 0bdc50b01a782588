import pytest
from django.db.models import Sum

from campaigns.demo import DEMO_DRAFT, DEMO_SCHEDULED, DEMO_SENT, demo_campaigns_seed
from campaigns.models import Campaign, Delivery
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory


@pytest.mark.django_db
def test_demo_sends_one_campaign_through_the_sandbox_and_plans_two_more(settings):
    # make run at 03:00 still shows it sent: it went out at the last 11:00.
    settings.CAMPAIGN_QUIET_HOURS = dict.fromkeys(("line", "email", "sms", "push"), "21:00-09:00")
    everyone = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    for _ in range(3):
        member = MemberFactory(online=True)  # no home store: none held out with its store
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")

    result = demo_campaigns_seed(segment=everyone)

    statuses = dict(Campaign.objects.values_list("name", "status"))
    assert statuses == {
        DEMO_SENT: Campaign.Status.DONE,
        DEMO_SCHEDULED: Campaign.Status.SCHEDULED,
        DEMO_DRAFT: Campaign.Status.DRAFT,
    }
    assert result.deliveries == 3
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 3
    assert demo_campaigns_seed(segment=everyone) is None  # once


@pytest.mark.django_db
def test_the_demo_campaign_has_opens_and_clicks_in_its_figures():
    from campaigns.models import CampaignFigures, EmailOpen, LinkClick

    everyone = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    for _ in range(200):  # clicks are 3 %: some whatever the ids
        member = MemberFactory()
        IdentityFactory(member=member, email=True)
        ConsentFactory(member=member, channel="email")

    result = demo_campaigns_seed(segment=everyone)

    # Written by the tracking services (the same as the real requests), not set directly.
    figures = CampaignFigures.objects.filter(
        campaign_id=result.sent, arm="sent", channel="email"
    ).aggregate(
        opened=Sum("opened"),
        opened_machine=Sum("opened_machine"),
        clicks=Sum("clicks"),
        clicked=Sum("clicked"),
    )  # the demo is an A/B test: a row per variant
    assert figures["opened"] == EmailOpen.objects.filter(machine=False).count() > 0
    assert figures["opened_machine"] > 0
    assert figures["clicks"] == LinkClick.objects.filter(machine=False).count() > 0
    assert figures["clicked"] == Delivery.objects.filter(clicked_at__isnull=False).count()


@pytest.mark.django_db
def test_the_demo_campaign_has_earned_something_in_its_report():
    """Orders after the send, through crm's order service and the conversions consumer: the
    report has conversions in store and online, for the sent group and the holdout."""
    from campaigns.models import CampaignFigures, Conversion
    from crm.models import Store

    Store.objects.create(code="S01", name="Demo store")
    everyone = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    for _ in range(300):
        member = MemberFactory()
        IdentityFactory(member=member, email=True)
        ConsentFactory(member=member, channel="email")

    result = demo_campaigns_seed(segment=everyone)

    figures = CampaignFigures.objects.filter(campaign_id=result.sent)
    sent = figures.filter(arm="sent").aggregate(
        converted=Sum("converted"), store=Sum("revenue_store_twd"), web=Sum("revenue_online_twd")
    )
    assert sent["converted"] > 0 and sent["store"] > 0 and sent["web"] > 0
    # Every factory member has a store of their own: a tenth of the stores are held out whole,
    # then 10 % of the rest at random.
    held_with_store = figures.get(arm="store_holdout").members
    assert 20 <= held_with_store <= 40
    assert figures.get(arm="holdout").members == round((300 - held_with_store) / 10)
    assert Conversion.objects.filter(campaign_id=result.sent).count() == sum(
        f.orders for f in figures
    )
