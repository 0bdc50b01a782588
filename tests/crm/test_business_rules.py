"""One definition per business rule: a sale and net revenue agree on the dashboard, in the
member figures and in segments (crm.models.sale_q, net_revenue)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.models import Order
from crm.selectors import member_overview
from crm.services.orders import OrderIn, orders_upsert
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Asia/Taipei"))


def _sale_with_a_partial_return(member) -> None:
    common = {"channel": "store", "store_code": "TPE01", "status": "placed"}
    orders_upsert(
        orders=[
            OrderIn(external_no="S1", amount_twd=1000, placed_at=NOW - timedelta(days=3), **common),
            OrderIn(
                external_no="R1",
                amount_twd=-300,
                placed_at=NOW - timedelta(days=2),
                is_return=True,
                returns_external_no="S1",
                **common,
            ),
        ],
        member_ids=[member.pk, member.pk],
    )


def test_a_sale_with_a_partial_return_is_one_order_of_its_net_amount_everywhere():
    member = MemberFactory()

    _sale_with_a_partial_return(member)

    overview = member_overview(now=NOW)
    member.stats.refresh_from_db()
    assert (overview.orders_last_30_days, overview.revenue_last_30_days) == (1, 700)
    assert (member.stats.orders_count, member.stats.total_spend_twd) == (1, 700)
    assert Order.objects.sales().count() == 1
