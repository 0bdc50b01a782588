"""Demo campaigns for `make run`: one sent through the sandbox, one scheduled, one draft.

The sent one is an A/B test (two wordings of the offer, 50/50) with a 10% holdout and a tenth
of the stores held out whole, sent four days ago; its members' orders since are credited, so
the campaign page and its report show variants, conversions and both lifts from the start.

The sent one runs the real pipeline end to end in this process (snapshot, batches, the send,
the sandbox's simulated opens, clicks and blocks through the tracking services, and LINE
Insight's counts of its LINE requests), so the campaign page, the members' timelines and the
suppression reasons have something to show the moment the app starts.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.conversions import conversions_consume
from campaigns.services.figures import campaign_figures_recount
from campaigns.services.holdout_stores import holdout_stores_draw
from campaigns.services.line_events import line_events_process
from campaigns.services.line_insight import line_insight_refresh
from campaigns.services.sandbox import sandbox_events_simulate
from crm.models import Identity, Segment, Store, Touchpoint
from crm.services.orders import OrderIn, orders_upsert

DEMO_SENT = "週年慶：會員獨享 85 折"
DEMO_SCHEDULED = "雙 12 預告"
DEMO_DRAFT = "生日月禮遇（草稿）"

LINE_ANNIVERSARY = {
    "messages": [
        {
            "type": "text",
            "text": "{{name}} 您好！週年慶會員獨享 85 折，全台門市與官網同步開跑 🎉\n"
            "https://shop.example.com/anniversary",
        },
        {
            "type": "image",
            "originalContentUrl": "https://shop.example.com/static/anniversary.jpg",
            "previewImageUrl": "https://shop.example.com/static/anniversary-preview.jpg",
        },
    ]
}
EMAIL_ANNIVERSARY = {
    "subject": "{{name}}，週年慶會員獨享 85 折",
    "text": "{{name}} 您好：\n\n週年慶開跑，會員結帳出示會員卡 {{member_no}} 享 85 折。\n"
    "https://shop.example.com/anniversary\n",
    "html": "<p>{{name}} 您好：</p><p>週年慶開跑，會員結帳出示會員卡 <b>{{member_no}}</b> "
    '享 85 折。</p><p><a href="https://shop.example.com/anniversary">立即選購</a></p>',
}
SMS_ANNIVERSARY = {"text": "【品牌】週年慶會員 85 折開跑 https://shop.example.com/a"}
# Variant B: the same offer told as money saved, with a deadline.
LINE_ANNIVERSARY_B = {
    "messages": [
        {"type": "text", "text": "{{name}}，週年慶滿千現折 150 元，只到週日！門市與官網都能用 ⏰"},
        LINE_ANNIVERSARY["messages"][1],
    ]
}
EMAIL_ANNIVERSARY_B = {
    "subject": "{{name}}，滿千現折 150，只到週日",
    "text": "{{name}} 您好：\n\n週年慶滿千現折 150 元，出示會員卡 {{member_no}} 即可，只到週日。\n"
    "https://shop.example.com/anniversary\n",
    "html": "<p>{{name}} 您好：</p><p>週年慶滿千現折 150 元，出示會員卡 <b>{{member_no}}</b> "
    '即可，只到週日。</p><p><a href="https://shop.example.com/anniversary">立即選購</a></p>',
}
SMS_ANNIVERSARY_B = {"text": "【品牌】週年慶滿千折 150 只到週日 https://shop.example.com/a"}
DEMO_SPLIT = {"A": 50, "B": 50}
DEMO_HOLDOUT_PERCENT = 10
DEMO_HOLDOUT_STORES_PERCENT = 10
DEMO_SENT_DAYS_AGO = 4
# Who buys within the window in the demo: variant B's deadline works better than A's wording,
# and both beat the held-out members (held-out rows have no variant).
DEMO_BUY_RATES = {"A": 0.07, "B": 0.10, "": 0.05}
DEMO_BASKETS_TWD = (590, 890, 1280, 1680, 2450, 3200)
# New LINE friends over the last 30 days (the Channels page's friends chart): follows of
# members who have a LINE id, through the LINE webhook's own service.
DEMO_LINE_FOLLOWS = 240
DEMO_LINE_FOLLOW_DAYS = 30
PUSH_TEASER = {
    "title": "雙 12 預告",
    "body": "{{name}}，雙 12 會員加碼回饋，明早 10 點開搶！",
    "url": "https://shop.example.com/1212",
}


@dataclass(frozen=True)
class DemoCampaigns:
    sent: int
    deliveries: int


def demo_campaigns_seed(*, segment: Segment | None = None) -> DemoCampaigns | None:
    """Write the three demo campaigns once (to `segment`, by default the ready-made OMO members:
    a few thousand in the demo); None when campaigns exist already."""
    if Campaign.objects.exists():
        return None
    segment = segment or Segment.objects.filter(ready_made="omo").first()
    if segment is None:
        return None
    now = timezone.now()
    # The sent campaign went out at the last 11:00 in Taipei, outside every channel's quiet
    # hours, so `make run` at night shows it sent rather than waiting for the morning.
    sent_at = timezone.localtime(now).replace(hour=11, minute=0, second=0, microsecond=0)
    if sent_at > now:
        sent_at -= timedelta(days=1)
    # … DEMO_SENT_DAYS_AGO days ago, so its 3-day conversion window has closed and the report
    # shows what it earned.
    sent_at -= timedelta(days=DEMO_SENT_DAYS_AGO)
    sent_fields = {
        "name": DEMO_SENT,
        "segment": segment,
        "channels": ["line", "email", "sms"],
        "contents": {"line": LINE_ANNIVERSARY, "email": EMAIL_ANNIVERSARY, "sms": SMS_ANNIVERSARY},
        "variant_split": DEMO_SPLIT,
        "variant_contents": {
            "B": {
                "line": LINE_ANNIVERSARY_B,
                "email": EMAIL_ANNIVERSARY_B,
                "sms": SMS_ANNIVERSARY_B,
            }
        },
        "holdout_percent": DEMO_HOLDOUT_PERCENT,
    }
    sent = campaign_save(**sent_fields)
    if Store.objects.exists():
        # Whole stores held out too, drawn balanced on sales, as a marketer would from the
        # builder: the report then shows the lift in store sales where members can't be split.
        stores = holdout_stores_draw(campaign=sent, share_percent=DEMO_HOLDOUT_STORES_PERCENT)
        sent = campaign_save(campaign=sent, holdout_store_ids=stores, **sent_fields)
    # The launch's snapshot and sends run here, not in a worker, so the demo starts with them
    # done; the tasks the launch also queued find the work done when the worker starts.
    campaign_launch(campaign=sent, now=sent_at)
    campaign_snapshot(campaign_id=sent.pk, now=sent_at)
    for batch_id in SendBatch.objects.filter(campaign=sent).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id, now=sent_at)
        sandbox_events_simulate(batch_id=batch_id)
    # LINE's opens and clicks, as the sandbox imagines LINE would count them a day later: the
    # same service the hourly job and the refresh button call, answered by the sandbox.
    line_insight_refresh(campaign_id=sent.pk)
    _demo_orders_after(campaign=sent, sent_at=sent_at, now=now)
    _demo_line_follows(now=now)
    scheduled = campaign_save(
        name=DEMO_SCHEDULED,
        segment=segment,
        channels=["push", "line"],
        contents={"push": PUSH_TEASER, "line": LINE_ANNIVERSARY},
        send_at=timezone.localtime(now).replace(hour=10, minute=0, second=0, microsecond=0)
        + timedelta(days=1),
    )
    campaign_launch(campaign=scheduled, now=now)
    campaign_save(
        name=DEMO_DRAFT,
        segment=segment,
        channels=["line"],
        contents={
            "line": {
                "messages": [{"type": "text", "text": "{{name}}，生日快樂！送您 200 點生日禮。"}]
            }
        },
    )
    return DemoCampaigns(sent=sent.pk, deliveries=sent.deliveries.count())


def _demo_orders_after(*, campaign: Campaign, sent_at: datetime, now: datetime) -> None:
    """Orders of the campaign's members in the three days after it, in store and on the web, a
    few returned: written through crm's order service (so the order-change feed has them) and
    credited by the same consumer beat runs, so the report shows conversions, revenue in store
    and online, the variant test and the lift over the holdout."""
    rng = random.Random(campaign.pk)  # noqa: S311 (demo data, repeatable)
    stores = list(Store.objects.order_by("code").values_list("code", flat=True)[:20])
    window = min((now - sent_at).total_seconds(), 3 * 86_400) - 3_600
    audience = Delivery.objects.filter(
        campaign=campaign, status__in=[Delivery.Status.SENT, Delivery.Status.HELD_OUT]
    ).values_list("pk", "member_id", "variant", "sent_at", "created_at")
    orders, member_ids, returns = [], [], []
    for delivery_id, member_id, variant, delivered_at, held_at in audience.iterator():
        if rng.random() >= DEMO_BUY_RATES.get(variant, 0.0):
            continue
        in_store = bool(stores) and rng.random() < 0.55
        order = OrderIn(
            channel="store" if in_store else "web",
            external_no=f"DEMO-C{campaign.pk}-{delivery_id}",
            amount_twd=rng.choice(DEMO_BASKETS_TWD),
            placed_at=(delivered_at or held_at) + timedelta(seconds=rng.uniform(600, window)),
            status="placed",
            store_code=rng.choice(stores) if in_store else "",
        )
        orders.append(order)
        member_ids.append(member_id)
        if in_store and rng.random() < 0.08:  # a partial return at the till the next day
            returns.append((order, member_id))
    for order, member_id in returns:
        orders.append(
            OrderIn(
                channel="store",
                external_no=f"{order.external_no}-R",
                amount_twd=-(order.amount_twd // 2),
                placed_at=min(order.placed_at + timedelta(days=1), now),
                status="placed",
                store_code=order.store_code,
                is_return=True,
                returns_external_no=order.external_no,
            )
        )
        member_ids.append(member_id)
    if orders:
        orders_upsert(orders=orders, member_ids=member_ids)
    conversions_consume()
    campaign_figures_recount(campaign_id=campaign.pk)


def _demo_line_follows(*, now: datetime) -> None:
    """LINE follows spread over the last DEMO_LINE_FOLLOW_DAYS days, as the LINE webhook
    delivers them (a touchpoint each, and LINE consent for the undecided), from members with
    a LINE id who never blocked the account (a follow would lift their block)."""
    rng = random.Random(DEMO_LINE_FOLLOWS)  # noqa: S311 (demo data, repeatable)
    blocked = Touchpoint.objects.filter(kind="line_block").values("member_id")
    users = list(
        Identity.objects.filter(kind=Identity.Kind.LINE_USER_ID)
        .exclude(member_id__in=blocked)
        .order_by("pk")
        .values_list("value", flat=True)[:DEMO_LINE_FOLLOWS]
    )
    span = DEMO_LINE_FOLLOW_DAYS * 86_400
    events = [
        {
            "type": "follow",
            "webhookEventId": f"DEMO-FOLLOW-{n}",
            "source": {"type": "user", "userId": user},
            "timestamp": int((now - timedelta(seconds=rng.uniform(0, span))).timestamp() * 1000),
            "follow": {"isUnblocked": False},
        }
        for n, user in enumerate(users)
    ]
    if events:
        line_events_process(events=events)
