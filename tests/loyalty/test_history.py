"""A member's points history: every entry, filters in the URL, keyset paging, the export, and
what a viewer without crm.unmask_personal_data sees."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import ExportJob
from crm.services.exports import export_job_run
from loyalty.models import PointsTransaction
from loyalty.selectors_overview import (
    HistoryFilters,
    InvalidHistoryCursor,
    points_history_page,
)
from loyalty.services.ledger import accounts_ensure
from loyalty.templatetags import loyalty_nav  # noqa: F401  (the tag library loads)
from tests.factories import MemberFactory, OrderFactory
from tests.loyalty.overview_data import Kind, account_for, post, taipei

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _url(member) -> str:
    return reverse("loyalty:member_points", args=[member.member_no])


def test_history_pages_newest_first_by_keyset():
    account = account_for()
    for n in range(1, 8):
        post(account, Kind.EARN, n, taipei(TODAY - timedelta(days=10 - n)))

    first = points_history_page(account_id=account.pk, filters=HistoryFilters(), size=3)
    second = points_history_page(
        account_id=account.pk, filters=HistoryFilters(), after=first.next_cursor, size=3
    )
    last = points_history_page(
        account_id=account.pk, filters=HistoryFilters(), after=second.next_cursor, size=3
    )

    assert [e.seq for e in first.entries] == [7, 6, 5]
    assert [e.seq for e in second.entries] == [4, 3, 2]
    assert [e.seq for e in last.entries] == [1] and last.next_cursor is None


def test_a_forged_cursor_is_refused():
    account = account_for()

    with pytest.raises(InvalidHistoryCursor):
        points_history_page(account_id=account.pk, filters=HistoryFilters(), after="12:forged")


def test_filters_by_kind_and_taipei_days():
    account = account_for()
    post(account, Kind.EARN, 100, taipei(TODAY - timedelta(days=20)))
    post(account, Kind.EARN, 50, taipei(TODAY - timedelta(days=5)))
    post(account, Kind.REDEEM, -30, taipei(TODAY - timedelta(days=4)))

    earned = points_history_page(account_id=account.pk, filters=HistoryFilters(kind=Kind.EARN))
    recent = points_history_page(
        account_id=account.pk, filters=HistoryFilters(start=TODAY - timedelta(days=5), end=TODAY)
    )

    assert [e.points for e in earned.entries] == [50, 100]
    assert [e.points for e in recent.entries] == [-30, 50]


def test_the_page_shows_every_column_of_an_entry(login_as, bob):
    member = MemberFactory()
    order = OrderFactory(member=member, external_no="POS-991")
    account = account_for(member)
    post(
        account,
        Kind.ADJUST,
        25,
        taipei(TODAY),
        order_id=order.pk,
        reason="Store manager's goodwill",
        actor_id=bob.pk,
        expires_on=TODAY + timedelta(days=365),
    )

    html = login_as("carol").get(_url(member)).content.decode()

    assert "+25" in html
    assert "POS-991" in html
    assert "Store manager&#x27;s goodwill" in html
    assert "bob" in html
    assert (TODAY + timedelta(days=365)).strftime("%Y/%m/%d") in html


def test_the_filter_is_read_from_the_url_and_a_bad_date_is_shown(login_as):
    account = account_for()
    post(account, Kind.EARN, 100, taipei(TODAY))
    post(account, Kind.REDEEM, -40, taipei(TODAY))

    page = login_as("carol").get(_url(account.member), {"kind": "redeem", "start": "31/31/2026"})

    assert page.status_code == 200
    rows = page.context["page"].entries
    assert [e.kind for e in rows] == ["redeem"]
    assert page.context["filter_form"].errors["start"]
    assert 'data-testid="filter-error"' in page.content.decode()


def test_load_more_answers_the_next_rows_alone(login_as):
    account = account_for()
    for n in range(1, 53):
        post(account, Kind.EARN, n, taipei(TODAY))
    client = login_as("carol")
    first = client.get(_url(account.member))
    cursor = first.context["page"].next_cursor

    more = client.get(_url(account.member), {"after": cursor}, headers={"HX-Request": "true"})

    html = more.content.decode()
    assert html.count('data-testid="history-row"') == 2 and "<html" not in html


def test_a_broken_page_link_shows_the_first_page(login_as):
    account = account_for()
    post(account, Kind.EARN, 5, taipei(TODAY))

    page = login_as("carol").get(_url(account.member), {"after": "nonsense"})

    assert page.status_code == 200 and len(page.context["page"].entries) == 1


def test_the_history_page_costs_a_fixed_number_of_queries(
    login_as, bob, django_assert_max_num_queries
):
    account = account_for()
    for n in range(1, 30):
        order = OrderFactory(member=account.member)
        post(account, Kind.EARN, n, taipei(TODAY), order_id=order.pk, actor_id=bob.pk)
    client = login_as("bob")
    client.get(_url(account.member))

    with django_assert_max_num_queries(12):
        client.get(_url(account.member))


def test_a_member_without_points_has_an_empty_history(login_as):
    member = MemberFactory()

    page = login_as("carol").get(_url(member))

    assert page.status_code == 200 and 'data-testid="history-empty"' in page.content.decode()


def test_an_unknown_member_is_a_404(login_as):
    assert login_as("carol").get("/loyalty/members/NOBODY/points/").status_code == 404


def test_the_analyst_sees_the_name_masked_and_no_adjust_form(login_as):
    member = MemberFactory(name="王小明")
    accounts_ensure(member_ids=[member.pk])

    analyst = login_as("carol").get(_url(member)).content.decode()
    marketer = login_as("bob").get(_url(member)).content.decode()

    assert "王小明" not in analyst and 'data-testid="adjust-form"' not in analyst
    assert "王小明" in marketer and 'data-testid="adjust-form"' in marketer


# --- Export -----------------------------------------------------------------------------------


def test_the_export_writes_the_filtered_entries_for_its_asker(login_as, carol, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    account = account_for()
    post(account, Kind.EARN, 100, taipei(TODAY), reason="=HYPERLINK(1)")
    post(account, Kind.REDEEM, -40, taipei(TODAY))
    client = login_as("carol")

    client.post(
        reverse("loyalty:member_points_export", args=[account.member.member_no]) + "?kind=earn",
        {"file_format": "csv"},
    )
    job = ExportJob.objects.get(created_by=carol)
    export_job_run(job_id=job.pk)
    response = client.get(reverse("loyalty:points_export_download", args=[job.pk]))

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert job.model_label == PointsTransaction._meta.label_lower
    assert len(rows) == 2  # the header and the one earn entry
    assert rows[1][0] == account.member.member_no
    assert "'=HYPERLINK(1)" in rows[1]  # a formula stays text


def test_exporting_needs_the_export_permission(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x")
    client.force_login(user)
    member = MemberFactory()

    response = client.post(
        reverse("loyalty:member_points_export", args=[member.member_no]), {"file_format": "csv"}
    )

    assert response.status_code == 403


def test_another_users_export_is_not_found(login_as, bob, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    account = account_for()
    post(account, Kind.EARN, 100, taipei(TODAY))
    login_as("bob").post(
        reverse("loyalty:member_points_export", args=[account.member.member_no]),
        {"file_format": "csv"},
    )
    job = ExportJob.objects.get(created_by=bob)

    response = login_as("carol").get(
        reverse("loyalty:points_export_status", args=[job.pk]), headers={"HX-Request": "true"}
    )

    assert response.status_code == 404
