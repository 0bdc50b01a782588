"""Demo campaigns for `make run`: one sent through the sandbox, one scheduled, one draft.

The sent one is an A/B test (two wordings of the offer, 50/50) with a 10% holdout, so the
campaign page and its report show variants and a held-out group from the start.

The sent one runs the real pipeline end to end in this process (snapshot, batches, the send,
the sandbox's simulated opens, clicks and blocks through the tracking services, and LINE
Insight's counts of its LINE requests), so the campaign page, the members' timelines and the
suppression reasons have something to show the moment the app starts.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from campaigns.models import Campaign, SendBatch
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.line_insight import line_insight_refresh
from campaigns.services.sandbox import sandbox_events_simulate
from crm.models import Segment

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
    sent = campaign_save(
        name=DEMO_SENT,
        segment=segment,
        channels=["line", "email", "sms"],
        contents={"line": LINE_ANNIVERSARY, "email": EMAIL_ANNIVERSARY, "sms": SMS_ANNIVERSARY},
        variant_split=DEMO_SPLIT,
        variant_contents={
            "B": {
                "line": LINE_ANNIVERSARY_B,
                "email": EMAIL_ANNIVERSARY_B,
                "sms": SMS_ANNIVERSARY_B,
            }
        },
        holdout_percent=DEMO_HOLDOUT_PERCENT,
    )
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
