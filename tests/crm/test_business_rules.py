"""One definition per business rule: a sale and net revenue agree on the dashboard, in the
member figures and in segments (crm.models.sale_q, net_revenue)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.models import Consent, Order
from crm.segments import segment_queryset
from crm.selectors import MemberListFilters, member_list_queryset, member_overview, member_profile
from crm.services.consent import consent_states
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


def test_current_consent_is_the_same_decision_in_the_list_segments_profile_and_imports():
    # Given: two decisions at the same moment; the later row (larger id) is the current one.
    member, other = MemberFactory(), MemberFactory()
    at = NOW - timedelta(days=1)
    Consent.objects.create(member=member, channel="sms", state="opted_in", at=at)
    Consent.objects.create(member=member, channel="sms", state="opted_out", at=at)
    Consent.objects.create(member=other, channel="sms", state="opted_in", at=at)
    opted_out = {
        "op": "and",
        "rules": [{"rule": "consent", "operator": "opted_out", "value": "sms"}],
    }

    listed = member_list_queryset(
        filters=MemberListFilters(consent_channel="sms", consent_state="opted_out")
    )
    profile = member_profile(member=member)

    assert list(listed) == [member]
    assert list(segment_queryset(opted_out)) == [member]
    assert {s.channel: s.state for s in profile.consent_states}["sms"] == "opted_out"
    assert consent_states(member_ids=[member.pk, other.pk]) == {
        (member.pk, "sms"): "opted_out",
        (other.pk, "sms"): "opted_in",
    }
    assert list(Consent.objects.current().values_list("state", flat=True).order_by("pk")) == [
        "opted_out",
        "opted_in",
    ]
