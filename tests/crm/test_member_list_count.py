"""The member list says how many members match: exact when small, "about" at scale, fast."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from crm.selectors import MemberListFilters, member_list_page
from omnichannel.counting import RowCount
from omnichannel.templatetags.ui import row_count
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def members():
    return [MemberFactory(member_no=f"M{n:07d}", name=f"陳{n:02d}") for n in range(7)]


def test_the_list_says_how_many_members_match(login_as, members):
    page = login_as("bob").get("/members/").content.decode()

    assert 'data-testid="result-count" data-estimated="false"' in page
    assert "7 位會員" in page


def test_the_count_follows_the_search(login_as, members):
    page = login_as("bob").get("/members/", {"q": "M0000003"}).content.decode()

    assert "1 位會員" in page


def test_load_more_reads_no_count(members):
    first = member_list_page(filters=MemberListFilters(), size=3, with_count=True)

    with CaptureQueriesContext(connection) as queries:
        more = member_list_page(filters=MemberListFilters(), size=3, after=first.next_cursor)

    assert first.count == RowCount(7)
    assert more.count is None
    assert not any("COUNT(" in q["sql"].upper() for q in queries)


def test_a_small_count_is_counted_with_a_bounded_query(members):
    with CaptureQueriesContext(connection) as queries:
        member_list_page(filters=MemberListFilters(), with_count=True)

    (count_sql,) = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert "LIMIT 1001" in count_sql  # never a COUNT(*) over the whole table


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the count estimate reads PostgreSQL's planner"
)
def test_past_the_exact_limit_the_count_is_the_planners_estimate(members, monkeypatch):
    monkeypatch.setattr("crm.selectors.MEMBER_COUNT_EXACT_LIMIT", 3)

    with CaptureQueriesContext(connection) as queries:
        page = member_list_page(filters=MemberListFilters(q="陳"), with_count=True)

    assert page.count.estimated
    assert page.count.value >= 4
    assert any(q["sql"].startswith("EXPLAIN") for q in queries)


@pytest.mark.parametrize(
    ("count", "language", "shown"),
    [
        (RowCount(1_234), "zh-hant", "1,234"),
        (RowCount(1_234_567, estimated=True), "zh-hant", "約 120 萬"),
        (RowCount(12_345, estimated=True), "zh-hant", "約 1.2 萬"),
        (RowCount(1_234_567, estimated=True), "en", "about 1.2M"),
        (RowCount(12_345, estimated=True), "en", "about 12K"),
        (RowCount(987_654_321, estimated=True), "zh-hant", "約 9.9 億"),
    ],
)
def test_an_estimate_is_shown_rounded_in_the_users_language(count, language, shown):
    with translation.override(language):
        assert row_count(count) == shown
