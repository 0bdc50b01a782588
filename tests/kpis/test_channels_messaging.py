"""The Channels page's messaging part and its rollups, to exact numbers on a hand-checked set.

Written through campaigns' own services (the outbox recount, opens, ESP clicks, orders credited
from crm's order-change feed, unsubscribes and blocks put down to a message), so the rollup is
checked against the figures campaigns keeps, not against rows made up for it.

Prices per message sent (settings): LINE NT$250, e-mail NT$100, SMS NT$150, push NT$0.

Campaign C1, sent 2 Nov 10:00 (Taipei):
  LINE   m1 sent (orders NT$1,000 on the web on 3 Nov: converted), m2 sent (blocks the LINE
         account an hour later), m3 failed, m4 suppressed (blocked the account before);
  e-mail m5 sent (opens, clicks, buys NT$500 in store on 3 Nov), m6 sent (unsubscribes),
         m7 suppressed (no consent), m8 suppressed (frequency cap).
Campaign C2, sent 10 Nov 00:30 Taipei (9 Nov 16:30 UTC): SMS to m1, m2, m3, no orders.

Per channel over November:
  LINE   audience 4, sent 2, delivery rate 2/3 = 66.7%, conversion 1/4 = 25.0%, revenue 1,000,
         cost 500, ROI (1,000 − 500)/500 = 100.0%, LINE block rate 1/2 = 50.0%.
  e-mail audience 4, sent 2, delivery 100.0%, open 1/2 = 50.0%, CTR 50.0%, conversion 25.0%,
         revenue 500, cost 200, ROI 150.0%, unsubscribe rate 1/2 = 50.0%.
  SMS    audience 3, sent 3, conversion 0.0%, revenue 0, cost 450, ROI −100.0%.
  All    sent 7, revenue 1,500, cost 1,150, ROI 350/1,150 = 30.4%, conversion 2/11 = 18.2%.
"""

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignFigures
from campaigns.services.conversions import conversions_consume
from campaigns.services.tracking import message_open_record
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import LineFriendsDaily, MessagingDaily, RollupRun, RollupWatermark
from omnichannel.kpis.pages.channels_messaging import messaging_section
from omnichannel.kpis.rollups_messaging import CAMPAIGNS_WATERMARK
from omnichannel.kpis.services import kpis_rebuild, kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write
from tests.kpis.messaging_data import PRICES, messaging_seed

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = "start=2026-11-01&end=2026-11-30"


@pytest.fixture
def messaging(settings):
    settings.CAMPAIGN_MESSAGE_PRICE_CENTS = PRICES
    seeded = messaging_seed()
    kpis_refresh()
    return seeded


def tile(html: str, key: str) -> str:
    part = html.split(f'data-testid="tile-{key}"', 1)[1]
    return part.split('data-testid="tile-value">', 1)[1].split("<", 1)[0]


def csv_lines(client, chart: str, query: str = NOVEMBER) -> list[str]:
    response = client.get(f"/kpis/channels/{chart}.csv?{query}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8-sig").splitlines()


def _cells() -> list[tuple]:
    return list(
        MessagingDaily.objects.order_by("day", "channel", "campaign_id").values_list(
            *[field.name for field in MessagingDaily._meta.fields if field.name != "id"]
        )
    )


def test_the_rollup_keeps_each_campaign_on_its_taipei_send_day(messaging):
    cells = {
        (row.day, row.channel): row
        for row in MessagingDaily.objects.filter(campaign_id__in=[messaging["c1"].pk])
    }
    line, email = cells[(date(2026, 11, 2), "line")], cells[(date(2026, 11, 2), "email")]
    assert (line.members, line.sent, line.failed, line.suppressed) == (4, 2, 1, 1)
    assert (line.suppressed_unreachable, line.converted, line.revenue_online_twd) == (1, 1, 1_000)
    assert (line.cost_cents, line.line_blocked) == (50_000, 1)
    assert (email.members, email.sent, email.suppressed) == (4, 2, 2)
    assert (email.suppressed_consent, email.suppressed_cap) == (1, 1)
    assert (email.opened, email.clicked, email.converted, email.unsubscribed) == (1, 1, 1, 1)
    assert (email.revenue_store_twd, email.cost_cents) == (500, 20_000)
    sms = MessagingDaily.objects.get(campaign_id=messaging["c2"].pk)
    assert (sms.day, sms.channel, sms.sent, sms.cost_cents) == (
        date(2026, 11, 10),
        "sms",
        3,
        45_000,
    )


def test_the_messaging_table_adds_up_per_channel(messaging, login_as):
    lines = csv_lines(login_as("carol"), "messaging-channels")
    assert len(lines) == 5
    # Channel, audience, sent, suppressed, delivery, open, CTR, conversion, revenue, cost, ROI,
    # unsubscribe rate, LINE block rate.
    assert lines[1:] == [
        "LINE,4,2,1,66.7,0.0,0.0,25.0,1000,500,100.0,0.0,50.0",
        "Email,4,2,2,100.0,50.0,50.0,25.0,500,200,150.0,50.0,",
        "簡訊,3,3,0,100.0,,0.0,0.0,0,450,-100.0,0.0,",
        "推播,0,0,0,,,,,0,0,,,",
    ]


def test_the_messaging_tiles_add_up(messaging, login_as):
    html = login_as("carol").get(f"/kpis/channels/?{NOVEMBER}").content.decode()
    assert tile(html, "messages-sent") == "7"
    assert tile(html, "message-revenue") == "NT$1,500"
    assert tile(html, "message-roi") == "30.4%"  # (1,500 − 1,150) / 1,150
    assert tile(html, "message-conversion") == "18.2%"  # 2 of 11
    assert tile(html, "message-cost") == "NT$1,150"


def test_the_period_picks_campaigns_by_their_taipei_send_day(messaging, login_as):
    html = login_as("carol").get("/kpis/channels/?start=2026-11-10&end=2026-11-30").content.decode()
    assert tile(html, "messages-sent") == "3"  # C2 only: sent 10 Nov 00:30 in Taipei
    html = login_as("carol").get("/kpis/channels/?start=2026-11-01&end=2026-11-09").content.decode()
    assert tile(html, "messages-sent") == "4"


def test_a_messaging_channel_narrows_the_messaging_figures(messaging, login_as):
    client = login_as("carol")
    html = client.get(f"/kpis/channels/?{NOVEMBER}&channel=email").content.decode()
    assert tile(html, "messages-sent") == "2"
    assert tile(html, "message-roi") == "150.0%"
    lines = csv_lines(client, "messaging-channels", f"{NOVEMBER}&channel=email")
    assert [line.split(",")[0] for line in lines[1:]] == ["Email"]
    assert 'data-testid="tile-line-friends-net"' not in html


def test_sent_per_day_by_channel(messaging, login_as):
    lines = csv_lines(login_as("carol"), "messages-per-day")
    assert lines[1:] == ["2026-11-02,LINE,2", "2026-11-02,Email,2", "2026-11-10,簡訊,3"]


def test_a_later_open_changes_the_send_days_cell_and_only_its_campaign(messaging):
    # Given: every figure older than the last refresh (the overlap looks 15 minutes back)
    long_ago = timezone.now() - timedelta(hours=2)
    CampaignFigures.objects.update(updated_at=long_ago)
    RollupWatermark.objects.filter(name=CAMPAIGNS_WATERMARK).update(
        last_at=long_ago + timedelta(hours=1)
    )
    before = _cells()
    # When: m6 opens the e-mail on 20 Nov
    message_open_record(
        delivery_id=messaging["deliveries"][6].pk, machine=False, at=at(date(2026, 11, 20))
    )
    run = kpis_refresh()
    # Then: C1's e-mail cell of 2 Nov has two opens; only C1's two cells were rewritten
    email = MessagingDaily.objects.get(campaign_id=messaging["c1"].pk, channel="email")
    assert (email.day, email.opened) == (date(2026, 11, 2), 2)
    assert run.counts["messaging"]["rows"] == 2
    changed = set(_cells()) - set(before)
    assert [(row[0], row[1], row[11]) for row in changed] == [(date(2026, 11, 2), "email", 2)]
    assert not MessagingDaily.objects.filter(day=date(2026, 11, 20)).exists()


def test_a_later_order_credited_moves_the_send_days_revenue(messaging):
    # Given: every figure older than the last refresh
    long_ago = timezone.now() - timedelta(hours=2)
    CampaignFigures.objects.update(updated_at=long_ago)
    RollupWatermark.objects.filter(name=CAMPAIGNS_WATERMARK).update(
        last_at=long_ago + timedelta(hours=1)
    )
    # When: m6 buys on the web on 4 Nov, within C1's e-mail window, credited by the feed later
    write(sale("W2", 800, at(date(2026, 11, 4)), channel="web"), member=messaging["members"][6])
    conversions_consume()
    kpis_refresh()
    # Then: C1's e-mail cell of 2 Nov has the order (campaigns stamped the figures it moved)
    email = MessagingDaily.objects.get(campaign_id=messaging["c1"].pk, channel="email")
    assert (email.converted, email.revenue_online_twd, email.revenue_store_twd) == (2, 800, 500)


def test_a_refresh_again_or_a_rebuild_changes_nothing(messaging):
    before = _cells()
    kpis_refresh()
    assert _cells() == before
    kpis_rebuild()
    assert _cells() == before


def test_a_deleted_campaign_leaves_the_rollup(messaging):
    Campaign.objects.filter(pk=messaging["c2"].pk).delete()
    kpis_refresh()
    assert not MessagingDaily.objects.filter(campaign_id=messaging["c2"].pk).exists()
    assert RollupRun.objects.latest("started_at").status == RollupRun.Status.DONE


# --- LINE friends ---------------------------------------------------------------------------


def _line(kind: str, when: datetime, member) -> None:
    touchpoints_write_batch(touchpoints=[TouchpointIn("line", kind, when)], member_ids=[member.pk])


@pytest.fixture
def friends():
    ann, bob, cid = (MemberFactory(home_store=None) for _ in range(3))
    _line("line_follow", at(date(2026, 11, 3), 9), ann)
    _line("line_follow", at(date(2026, 11, 3), 10), bob)
    _line("line_block", at(date(2026, 11, 3), 23, 30), ann)  # 15:30 UTC: still 3 Nov in Taipei
    _line("line_follow", at(date(2026, 11, 5), 0, 10), cid)  # 4 Nov 16:10 UTC: 5 Nov here
    _line("message_opened", at(date(2026, 11, 5)), cid)  # not a friends event
    kpis_refresh()
    return ann, bob, cid


def test_line_friends_per_taipei_day(friends, login_as):
    days = list(LineFriendsDaily.objects.order_by("day").values_list("day", "follows", "blocks"))
    assert days == [(date(2026, 11, 3), 2, 1), (date(2026, 11, 5), 1, 0)]
    client = login_as("carol")
    assert csv_lines(client, "line-friends")[1:] == ["2026-11-03,2,1", "2026-11-05,1,0"]
    html = client.get(f"/kpis/channels/?{NOVEMBER}").content.decode()
    assert tile(html, "line-friends-net") == "2"  # 3 follows − 1 block


def test_a_late_line_event_recomputes_its_day(friends):
    _ann, bob, _cid = friends
    _line("line_block", at(date(2026, 11, 3), 12), bob)  # arrives late, for an old day
    kpis_refresh()
    assert LineFriendsDaily.objects.get(day=date(2026, 11, 3)).blocks == 2
    before = list(LineFriendsDaily.objects.order_by("day").values_list("day", "follows", "blocks"))
    kpis_refresh()
    kpis_rebuild()
    after = list(LineFriendsDaily.objects.order_by("day").values_list("day", "follows", "blocks"))
    assert after == before


def test_the_messaging_section_reads_a_fixed_number_of_queries(
    messaging, django_assert_num_queries
):
    # Totals, the period before, the table, the days, LINE friends' totals (now and before)
    # and per day: whatever the number of campaigns, days or channels.
    filters = KpiFilters(start=date(2026, 11, 1), end=date(2026, 11, 30), compare=True)
    with django_assert_num_queries(7):
        messaging_section(filters)
