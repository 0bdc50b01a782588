"""The hand-checked messaging data set of the Channels page's tests (its numbers are worked
out in tests/kpis/test_channels_messaging.py), written through campaigns' own services."""

from datetime import UTC, date, datetime, timedelta

from campaigns.models import Campaign, Delivery, DeliveryReason
from campaigns.services.conversions import conversions_consume
from campaigns.services.figures import campaign_figures_recount
from campaigns.services.tracking import (
    email_engagement_record,
    line_blocks_attribute,
    message_open_record,
    unsubscribe_attribute,
)
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

# Prices per message sent, hundredths of NT$: LINE NT$250, e-mail NT$100, SMS NT$150.
PRICES = {"line": 25_000, "email": 10_000, "sms": 15_000, "push": 0}
C1_AT = at(date(2026, 11, 2), 10)
C2_AT = datetime(2026, 11, 9, 16, 30, tzinfo=UTC)  # 10 Nov 00:30 in Taipei


def _campaign(name: str, channels: list[str], launched_at: datetime) -> Campaign:
    return Campaign.objects.create(
        name=name, channels=channels, status=Campaign.Status.DONE, launched_at=launched_at
    )


def _delivery(campaign, member, channel, status, *, reason="", sent_at=None) -> Delivery:
    return Delivery.objects.create(
        campaign=campaign,
        member=member,
        channel=channel,
        status=status,
        reason=reason,
        created_at=campaign.launched_at,
        sent_at=sent_at,
    )


def messaging_seed() -> dict:
    """Campaigns C1 (LINE and e-mail, 2 Nov) and C2 (SMS, 10 Nov in Taipei), their opens,
    clicks, orders, an unsubscribe and a LINE block. Needs settings' prices set to PRICES."""
    m = {n: MemberFactory(home_store=None) for n in range(1, 9)}
    sent, failed, suppressed = (
        Delivery.Status.SENT,
        Delivery.Status.FAILED,
        Delivery.Status.SUPPRESSED,
    )
    c1 = _campaign("C1", ["line", "email"], C1_AT)
    d = {
        1: _delivery(c1, m[1], "line", sent, sent_at=C1_AT),
        2: _delivery(c1, m[2], "line", sent, sent_at=C1_AT),
        3: _delivery(c1, m[3], "line", failed, reason=DeliveryReason.PROVIDER_ERROR),
        4: _delivery(c1, m[4], "line", suppressed, reason=DeliveryReason.LINE_BLOCKED),
        5: _delivery(c1, m[5], "email", sent, sent_at=C1_AT),
        6: _delivery(c1, m[6], "email", sent, sent_at=C1_AT),
        7: _delivery(c1, m[7], "email", suppressed, reason=DeliveryReason.NO_CONSENT),
        8: _delivery(c1, m[8], "email", suppressed, reason=DeliveryReason.FREQUENCY_CAP),
    }
    c2 = _campaign("C2", ["sms"], C2_AT)
    for n in (1, 2, 3):
        _delivery(c2, m[n], "sms", sent, sent_at=C2_AT)
    for campaign in (c1, c2):
        campaign_figures_recount(campaign_id=campaign.pk)
    message_open_record(delivery_id=d[5].pk, machine=False, at=C1_AT + timedelta(hours=1))
    email_engagement_record(
        provider="esp",
        event_id="click-1",
        kind="clicked",
        delivery_id=d[5].pk,
        url="https://shop.example.com/anniversary",
        at=C1_AT + timedelta(hours=2),
    )
    unsubscribe_attribute(member_id=m[6].pk, channel="email", at=C1_AT + timedelta(hours=3))
    line_blocks_attribute(at_by_member={m[2].pk: C1_AT + timedelta(hours=1)})
    write(sale("W1", 1_000, at(date(2026, 11, 3)), channel="web"), member=m[1])
    write(sale("S1", 500, at(date(2026, 11, 3)), store="TPE01"), member=m[5])
    conversions_consume()
    return {"c1": c1, "c2": c2, "members": m, "deliveries": d}
