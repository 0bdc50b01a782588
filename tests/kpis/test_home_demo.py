"""`make run` seeds the demo and rebuilds the rollups: the KPI pages and the home dashboard
then have something to show (months of orders for cohorts, a 30-vs-30 comparison, buyers online
and in store for OMO)."""

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from crm.demo import demo_seed
from omnichannel.channels import ONLINE_SALES_CHANNELS, Channel
from omnichannel.kpis.headlines import home_filters
from omnichannel.kpis.models import MemberActivityMonthly, RollupRun, SalesDaily
from omnichannel.kpis.selectors_sales import sales_totals

# The seed must commit (the rollups' feed reads committed rows on PostgreSQL).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo():
    demo_seed(members=300, seed=7)
    call_command("rebuild_kpis")  # as `make run` does after the seeds


def test_the_demo_fills_the_rollups(demo):
    assert RollupRun.objects.filter(status=RollupRun.Status.DONE).exists()
    months = SalesDaily.objects.dates("day", "month")
    assert len(months) >= 12  # cohorts and retention need months of history
    channels = set(SalesDaily.objects.values_list("channel", flat=True).distinct())
    assert Channel.STORE in channels and channels & set(ONLINE_SALES_CHANNELS)


def test_the_demo_has_the_last_30_days_and_the_30_before(demo):
    filters = home_filters()
    now, before = sales_totals(filters), sales_totals(filters.previous())

    assert now.orders > 0 and now.revenue_twd > 0
    assert before.orders > 0 and before.revenue_twd > 0


def test_the_demo_has_members_buying_online_and_in_store(demo):
    omo = (
        MemberActivityMonthly.objects.filter(orders__gt=0)
        .values("member_id")
        .annotate(
            store=Count("pk", filter=Q(channel=Channel.STORE)),
            online=Count("pk", filter=Q(channel__in=ONLINE_SALES_CHANNELS)),
        )
        .filter(store__gt=0, online__gt=0)
    )
    assert omo.count() >= 10


def test_the_home_dashboard_shows_the_demo_figures(demo, login_as):
    html = login_as("carol").get("/").content.decode()

    sales = html.split('data-testid="headline-sales"', 1)[1].split("</section>", 1)[0]
    value = sales.split('data-testid="tile-orders"', 1)[1]
    assert value.split('data-testid="tile-value">', 1)[1].split("<", 1)[0] not in ("0", "—")
    assert "rebuild_kpis" not in html  # the rollups are fresh
