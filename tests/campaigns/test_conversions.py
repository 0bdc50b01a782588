"""Orders credited to campaigns from crm's order-change feed, and the kept figures they move
(campaigns.services.conversions, campaigns.services.figures).

A hand-computed data set: campaign C (3-day delivery window, 7-day click window) sent to m1, m2,
m4, m5, m7 at T0 (m7 at T0+5d), m1 clicked at T0+1d, m3 held out; campaign C2 sent to m1 at
T0+1.5d. Every order below says whether and why it is credited.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from campaigns.models import (
    Campaign,
    CampaignFigures,
    CampaignFiguresDaily,
    Conversion,
    Delivery,
    SendBatch,
)
from campaigns.selectors import campaign_report
from campaigns.services.conversions import (
    CONSUMER,
    conversions_consume,
    conversions_credit_clicks,
)
from campaigns.services.figures import campaign_figures_recount, campaign_figures_recount_due
from campaigns.services.sending import campaign_finish_if_done
from crm.models import OrderChangeCursor
from crm.services import MergePair, members_merge
from crm.services.orders import OrderIn, orders_upsert
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Taipei
DAY = timedelta(days=1)


def _web(no: str, at: datetime, amount: int, status: str = "placed") -> OrderIn:
    return OrderIn(channel="web", external_no=no, amount_twd=amount, placed_at=at, status=status)


def _pos(no: str, at: datetime, amount: int, returns: str = "") -> OrderIn:
    return OrderIn(
        channel="store",
        external_no=no,
        amount_twd=amount,
        placed_at=at,
        status="placed",
        store_code="TP01",
        store_name="台北店",
        is_return=bool(returns),
        returns_external_no=returns,
    )


def _sent(campaign, member, at, **fields) -> Delivery:
    return Delivery.objects.create(
        campaign=campaign, member=member, channel="line", status="sent", sent_at=at, **fields
    )


@pytest.fixture
def world():
    m = {i: MemberFactory() for i in range(1, 9)}
    c = Campaign.objects.create(name="C", status=Campaign.Status.DONE, channels=["line"])
    c2 = Campaign.objects.create(name="C2", status=Campaign.Status.DONE, channels=["line"])
    d = {
        1: _sent(c, m[1], T0, clicked_at=T0 + DAY),
        2: _sent(c, m[2], T0),
        3: Delivery.objects.create(
            campaign=c,
            member=m[3],
            status="held_out",
            reason="holdout",
            variant="",
            created_at=T0,
        ),
        4: _sent(c, m[4], T0),
        5: _sent(c, m[5], T0),
        7: _sent(c, m[7], T0 + 5 * DAY),
    }
    d2 = _sent(c2, m[1], T0 + 1.5 * DAY)
    return {"m": m, "c": c, "c2": c2, "d": d, "d2": d2}


def _orders(world):
    m = world["m"]
    rows = [
        (_web("W1", T0 + 2 * DAY, 1000), 1),  # C by click (both windows); C2 by delivery
        (_web("W2", T0 + 5 * DAY, 500), 1),  # C by click only
        (_web("W3", T0 + 9 * DAY, 700), 1),  # outside both windows
        (_pos("S1", T0 + DAY, 2000), 2),  # store sale; a partial return follows
        (_web("W4", T0 + 4 * DAY, 300), 2),  # after the 3-day window, no click
        (_pos("S2", T0 + 2 * DAY, 800), 2),  # fully returned below
        (_web("W5", T0 - timedelta(hours=1), 900), 2),  # before the message
        (_pos("S3", T0 + 2 * DAY, 1200), 3),  # held out: the holdout arm
        (_web("W6", T0 + 3 * DAY, 400), 3),  # held out, window's end (excluded)
        (_web("W7", T0 + DAY, 900), 4),  # cancelled below
        (_web("W8", T0 + DAY, 400), 5),  # m5 is merged into m6 below
        (_web("W9", T0 + 6 * DAY, 600), 7),  # m7 (sent T0+5d) is merged into m2 below
    ]
    orders_upsert(orders=[o for o, _ in rows], member_ids=[m[i].pk for _, i in rows])


def _returns(world):
    orders_upsert(
        orders=[
            _pos("R1", T0 + 3 * DAY, -500, returns="S1"),
            _pos("R2", T0 + 3 * DAY, -800, returns="S2"),
        ],
        member_ids=[world["m"][2].pk, None],
    )


def _figures(campaign) -> dict:
    return {
        (f.arm, f.variant, f.channel): (
            f.members,
            f.sent,
            f.converted,
            f.orders,
            f.revenue_online_twd,
            f.revenue_store_twd,
            f.revenue_sumsq,
            f.revenue_store_sumsq,
        )
        for f in CampaignFigures.objects.filter(campaign=campaign)
    }


def _daily(campaign) -> dict:
    return {
        (r.day, r.arm, r.variant): (r.orders, r.revenue_twd)
        for r in CampaignFiguresDaily.objects.filter(campaign=campaign)
        if r.orders or r.revenue_twd
    }


def _conversions(campaign) -> dict:
    return {
        c.order.external_no: (c.member_id, c.delivery_id, c.basis, c.arm, c.amount_twd)
        for c in Conversion.objects.filter(campaign=campaign).select_related("order")
    }


def _everything(world) -> tuple:
    return (
        _conversions(world["c"]),
        _conversions(world["c2"]),
        _figures(world["c"]),
        _figures(world["c2"]),
        _daily(world["c"]),
        _daily(world["c2"]),
        sorted(Delivery.objects.values_list("pk", "member_id", "revenue_twd", "converted_at")),
    )


def test_orders_are_credited_by_window_net_of_returns_and_follow_merges(world):
    m, c, c2, d = world["m"], world["c"], world["c2"], world["d"]
    campaign_figures_recount(campaign_id=c.pk)
    campaign_figures_recount(campaign_id=c2.pk)
    _orders(world)
    conversions_consume()
    # Before the returns, the cancel and the merges.
    assert _conversions(c)["S1"][4] == 2000
    assert "S2" in _conversions(c)
    assert "W7" in _conversions(c)

    _returns(world)
    orders_upsert(orders=[_web("W7", T0 + DAY, 900, status="cancelled")], member_ids=[m[4].pk])
    members_merge(
        pairs=[
            MergePair(survivor_id=m[6].pk, merged_id=m[5].pk, matched_keys=["manual"]),
            MergePair(survivor_id=m[2].pk, merged_id=m[7].pk, matched_keys=["manual"]),
        ]
    )
    conversions_consume()

    assert _conversions(c) == {
        "W1": (m[1].pk, d[1].pk, "click", "sent", 1000),
        "W2": (m[1].pk, d[1].pk, "click", "sent", 500),
        "S1": (m[2].pk, d[2].pk, "delivery", "sent", 1500),
        "S3": (m[3].pk, d[3].pk, "delivery", "holdout", 1200),
        # m5's delivery moved to m6 (who had none in C); the order and its credit too.
        "W8": (m[6].pk, d[5].pk, "delivery", "sent", 400),
        # m2 had a delivery of C whose window misses W9: the credit stays on m7's delivery.
        "W9": (m[2].pk, d[7].pk, "delivery", "sent", 600),
    }
    assert _conversions(c2) == {"W1": (m[1].pk, world["d2"].pk, "delivery", "sent", 1000)}
    # members, sent, converted, orders, online, store, sumsq, store sumsq
    assert _figures(c) == {
        ("sent", "A", "line"): (
            5,
            5,
            4,
            5,
            2500,
            1500,
            1500**2 + 1500**2 + 400**2 + 600**2,
            1500**2,
        ),
        ("holdout", "", ""): (1, 0, 1, 1, 0, 1200, 1200**2, 1200**2),
    }
    assert _daily(c) == {
        (date(2026, 3, 3), "sent", "A"): (2, 1900),  # S1 net 1500 + W8 400
        (date(2026, 3, 4), "sent", "A"): (1, 1000),
        (date(2026, 3, 4), "holdout", ""): (1, 1200),
        (date(2026, 3, 7), "sent", "A"): (1, 500),
        (date(2026, 3, 8), "sent", "A"): (1, 600),
    }
    delivery = Delivery.objects.get(pk=d[2].pk)
    assert (delivery.revenue_twd, delivery.converted_at) == (1500, T0 + DAY)
    assert Delivery.objects.get(pk=d[4].pk).revenue_twd == 0  # its order was cancelled
    assert Delivery.objects.get(pk=d[4].pk).converted_at is None

    kept = _everything(world)
    arms = CampaignFigures.objects.filter(campaign=c)
    assert {(f.arm, f.revenue_twd) for f in arms} == {("sent", 4000), ("holdout", 1200)}
    assert CampaignFiguresDaily.objects.filter(campaign=c).count() == 5
    assert campaign_report(campaign_id=c.pk).campaign_id == c.pk  # the page's read of them

    # Replaying the whole feed from its start changes nothing.
    OrderChangeCursor.objects.filter(consumer=CONSUMER).update(
        last_id=0, low_snapshot="", high_snapshot=""
    )
    assert conversions_consume() > 0
    assert _everything(world) == kept

    # The figures kept as things happened are what the rebuild computes from the raw rows.
    call_command("campaign_figures_rebuild", "--campaign", str(c.pk), stdout=None)
    call_command("campaign_figures_rebuild", stdout=None)
    assert _everything(world) == kept


def test_a_full_return_removes_the_credit_and_a_partial_one_lowers_it(world):
    c, d = world["c"], world["d"]
    _orders(world)
    conversions_consume()
    assert Delivery.objects.get(pk=d[2].pk).revenue_twd == 2000 + 800

    _returns(world)
    conversions_consume()

    assert Delivery.objects.get(pk=d[2].pk).revenue_twd == 1500
    sent = CampaignFigures.objects.get(campaign=c, arm="sent")
    assert (sent.revenue_store_twd, sent.orders) == (1500, 5 + 1)  # W7 is not cancelled yet


def test_a_broken_figure_is_repaired_by_the_rebuild(world):
    c = world["c"]
    campaign_figures_recount(campaign_id=c.pk)
    _orders(world)
    conversions_consume()
    kept = _everything(world)
    CampaignFigures.objects.filter(campaign=c).update(orders=0, revenue_sumsq=7)
    CampaignFiguresDaily.objects.filter(campaign=c).delete()
    Delivery.objects.filter(campaign=c).update(revenue_twd=1)

    call_command("campaign_figures_rebuild", "--campaign", str(c.pk), stdout=None)

    assert _everything(world) == kept


def test_recount_counts_each_arm_from_the_outbox(world):
    c, m = world["c"], world["m"]
    Delivery.objects.filter(pk=world["d"][4].pk).update(status="failed", reason="provider_error")
    Delivery.objects.filter(pk=world["d"][5].pk).update(
        status="suppressed", reason="no_consent", sent_at=None
    )
    Delivery.objects.create(campaign=c, member=m[8], channel="sms", variant="B")

    campaign_figures_recount(campaign_id=c.pk)
    campaign_figures_recount(campaign_id=c.pk)

    rows = {
        (f.arm, f.variant, f.channel): (f.members, f.sent, f.failed, f.suppressed)
        for f in CampaignFigures.objects.filter(campaign=c)
    }
    assert rows == {
        ("sent", "A", "line"): (5, 3, 1, {"no_consent": 1}),
        ("sent", "B", "sms"): (1, 0, 0, {}),
        ("holdout", "", ""): (1, 0, 0, {}),
    }


def test_a_campaign_that_ends_is_recounted_and_the_minute_job_only_when_batches_moved(
    world, eager_celery
):
    c = world["c"]
    Campaign.objects.filter(pk=c.pk).update(status=Campaign.Status.SENDING)
    batch = SendBatch.objects.create(campaign=c, channel="line", seq=1, status="running")
    assert campaign_figures_recount_due() == [c.pk]
    assert campaign_figures_recount_due() == []  # nothing moved
    assert CampaignFigures.objects.get(campaign=c, arm="sent").sent == 5

    Delivery.objects.filter(pk=world["d"][4].pk).update(status="failed", reason="provider_error")
    SendBatch.objects.filter(pk=batch.pk).update(status="done", finished_at=T0)
    assert campaign_finish_if_done(campaign_id=c.pk)

    assert CampaignFigures.objects.get(campaign=c, arm="sent").failed == 1
    assert campaign_figures_recount_due() == [c.pk]  # the batch finished since


def test_an_order_assigned_later_to_a_member_is_credited(world):
    m, c = world["m"], world["c"]
    order = _web("W10", T0 + DAY, 350)
    orders_upsert(orders=[order], member_ids=[None])
    conversions_consume()
    assert not Conversion.objects.filter(campaign=c).exists()

    orders_upsert(orders=[replace(order)], member_ids=[m[4].pk])
    conversions_consume()

    assert _conversions(c)["W10"] == (m[4].pk, world["d"][4].pk, "delivery", "sent", 350)


def test_a_click_recorded_after_the_order_was_fed_credits_it(world):
    m, c, d = world["m"], world["c"], world["d"]
    _orders(world)
    conversions_consume()
    assert "W4" not in _conversions(c)  # m2's T0+4d order: after the delivery window

    Delivery.objects.filter(pk=d[2].pk).update(clicked_at=T0 + 3 * DAY)
    conversions_credit_clicks(delivery_ids=[d[2].pk])

    assert _conversions(c)["W4"] == (m[2].pk, d[2].pk, "click", "sent", 300)
    # S1 (T0+1d) keeps its delivery basis: it was placed before the click.
    assert _conversions(c)["S1"][2] == "delivery"
    assert Delivery.objects.get(pk=d[2].pk).revenue_twd == 2000 + 800 + 300


def test_a_tracked_click_credits_the_orders_already_fed_in_its_window(world):
    """The click writer calls the crediting: a real /r/ click, not a hand-set clicked_at."""
    from campaigns.models import TrackedLink
    from campaigns.services.tracking import link_click_record
    from campaigns.tracking import tracking_code

    m, c, d = world["m"], world["c"], world["d"]
    _orders(world)
    conversions_consume()
    assert "W4" not in _conversions(c)
    TrackedLink.objects.create(
        campaign=c, variant="A", channel="line", number=1, url="https://shop.example.com/"
    )

    link_click_record(
        code=tracking_code(delivery_id=d[2].pk, number=1),
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Line/13.0",
        ip="203.0.113.9",
        at=T0 + 3 * DAY,
    )

    assert _conversions(c)["W4"] == (m[2].pk, d[2].pk, "click", "sent", 300)
