"""loyalty's admin: every model there, the ledger append-only, bounded lists, member search."""

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from loyalty.models import (
    Coupon,
    PointsAccount,
    PointsHold,
    PointsTransaction,
    Reward,
    TierChange,
)
from omnichannel.admin_tools import LargeTablePaginator
from tests.loyalty.overview_data import Kind, account_for, post, taipei

pytestmark = pytest.mark.django_db

BIG_TABLES = (PointsAccount, PointsTransaction, PointsHold, Coupon, TierChange)


def test_every_loyalty_model_is_in_the_admin():
    from django.apps import apps

    models = set(apps.get_app_config("loyalty").get_models())

    assert models <= set(admin.site._registry)


@pytest.mark.parametrize("model", BIG_TABLES, ids=lambda m: m.__name__)
def test_big_tables_are_bounded_searchable_and_filtered(model):
    model_admin = admin.site._registry[model]

    assert model_admin.paginator is LargeTablePaginator
    assert model_admin.show_full_result_count is False
    assert model_admin.search_fields and model_admin.list_filter
    assert "delete_selected" not in (model_admin.actions or ())


@pytest.fixture
def ledger():
    account = account_for()
    post(account, Kind.EARN, 120, taipei(timezone.localdate()))
    post(account, Kind.REDEEM, -20, taipei(timezone.localdate()))
    return account


def test_the_ledger_cannot_be_added_to_changed_or_deleted_even_by_an_admin(login_as, ledger):
    client = login_as("alice")
    entry = ledger.transactions.first()
    change = reverse("admin:loyalty_pointstransaction_change", args=[entry.pk])

    assert client.get(reverse("admin:loyalty_pointstransaction_add")).status_code == 403
    assert client.post(change, {"points": 999_999, "reason": "x"}).status_code == 403
    delete = reverse("admin:loyalty_pointstransaction_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(change).status_code == 200  # shown, read-only
    entry.refresh_from_db()
    assert entry.points == 120


def test_an_accounts_balance_is_shown_not_edited_and_links_to_the_adjustment(login_as, ledger):
    client = login_as("alice")
    change = reverse("admin:loyalty_pointsaccount_change", args=[ledger.pk])

    page = client.get(change).content.decode()
    client.post(change, {"balance": 1_000_000, "entries": 0})

    ledger.refresh_from_db()
    assert ledger.balance == 100 and ledger.entries == 2
    assert reverse("loyalty:member_points", args=[ledger.member.member_no]) in page


def test_the_adjust_action_leads_to_the_members_points_page(login_as, ledger):
    response = login_as("alice").post(
        reverse("admin:loyalty_pointsaccount_changelist"),
        {"action": "adjust_points", "_selected_action": [ledger.pk]},
    )

    assert response.status_code == 302
    assert response.url == reverse("loyalty:member_points", args=[ledger.member.member_no])


def test_the_ledger_list_is_searched_by_member_number_and_key(login_as, ledger):
    other = account_for()
    post(other, Kind.EARN, 5, taipei(timezone.localdate()))
    client = login_as("alice")
    url = reverse("admin:loyalty_pointstransaction_changelist")

    by_member = client.get(url, {"q": ledger.member.member_no}).context["cl"].result_list
    key = other.transactions.get().idempotency_key
    by_key = client.get(url, {"q": key}).context["cl"].result_list

    assert {entry.account_id for entry in by_member} == {ledger.pk}
    assert [entry.account_id for entry in by_key] == [other.pk]


def test_a_coupon_is_found_by_its_code_in_any_spelling(login_as, ledger):
    reward = Reward.objects.create(name="Tea", points_price=10)
    now = timezone.now()
    Coupon.objects.create(
        code="ABCD2345", reward=reward, account=ledger, expires_at=now + timezone.timedelta(days=9)
    )

    found = login_as("alice").get(reverse("admin:loyalty_coupon_changelist"), {"q": "abcd-2345"})

    assert [c.code for c in found.context["cl"].result_list] == ["ABCD2345"]


# Queries of one list page for an Admin: session, user, the count (LIMITed), the rows, and the
# choices of a filter over a small related table where it has one.
CHANGELIST_QUERIES = {
    "pointsaccount": 5,  # + the tiers of the tier filter
    "pointstransaction": 4,
    "pointshold": 4,
    "coupon": 4,
    "tierchange": 5,  # + the tiers of the tier filter
}


@pytest.mark.parametrize("model", sorted(CHANGELIST_QUERIES))
def test_changelist_query_count_is_pinned(login_as, django_assert_num_queries, model):
    for _ in range(5):
        account = account_for(tier_rank=1)
        post(account, Kind.EARN, 10, taipei(timezone.localdate()))
    client = login_as("alice")

    with django_assert_num_queries(CHANGELIST_QUERIES[model]):
        response = client.get(f"/admin/loyalty/{model}/")

    assert response.status_code == 200


@pytest.mark.parametrize("model", ["programme", "tier", "earnrule"])
def test_the_programmes_terms_are_changed_on_the_loyalty_pages_not_in_the_admin(login_as, model):
    """A save here would skip the services: no audit entry, no tier re-evaluation."""
    from loyalty.models import EarnRule, Programme, Tier

    row = {
        "programme": Programme.current,
        "tier": lambda: Tier.objects.order_by("rank").first(),
        "earnrule": lambda: EarnRule.objects.create(name="App ×2", kind="channel", channel="app"),
    }[model]()
    client = login_as("alice")
    change = reverse(f"admin:loyalty_{model}_change", args=[row.pk])

    assert client.get(change).status_code == 200  # shown, read-only
    assert client.post(change, {"name": "changed", "threshold_twd": 1}).status_code == 403
    assert client.get(reverse(f"admin:loyalty_{model}_add")).status_code == 403
