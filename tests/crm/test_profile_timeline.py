"""The profile timeline: every source, newest first, paged by a keyset cursor."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.models import MemberNote, MergeLog, Order, Touchpoint
from crm.services import member_merge_by_hand
from crm.services.consent import consent_record
from crm.services.orders import OrderIn, orders_upsert
from crm.timeline import (
    TIMELINE_SOURCES,
    Cursor,
    TimelineEntry,
    TimelineSource,
    register_timeline_source,
    timeline_page,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
TAIPEI = ZoneInfo("Asia/Taipei")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=TAIPEI)


def _mixed_history(member, *, same_time: datetime):
    """Orders (a sale, its return, a cancelled web order), touchpoints, consents and notes,
    several of them at exactly the same instant so the tie-break (kind, id) is exercised."""
    orders = [
        OrderIn("store", "S1", 1_000, NOW - timedelta(days=9), "placed", "TPE01"),
        OrderIn("store", "R1", -400, NOW - timedelta(days=8), "placed", "TPE01", "", True, "S1"),
        OrderIn("web", "W1", 300, same_time, "cancelled"),
        OrderIn("web", "W2", 500, same_time, "placed"),
    ]
    orders_upsert(orders=orders, member_ids=[member.pk] * len(orders))
    for i in range(5):
        Touchpoint.objects.create(member=member, channel="web", kind="page_view", at=same_time)
        Touchpoint.objects.create(
            member=member, channel="store", kind="store_visit", at=NOW - timedelta(days=i)
        )
    consent_record(member=member, channel="line", opted_in=True, at=same_time)
    consent_record(member=member, channel="email", opted_in=False, at=NOW - timedelta(hours=3))
    for i in range(3):
        MemberNote.objects.create(member=member, body=f"note {i}", at=same_time)


def _all_pages(member_id: int, page_size: int) -> list[list[TimelineEntry]]:
    pages, before = [], None
    while True:
        page = timeline_page(member_id=member_id, before=before, page_size=page_size)
        pages.append(page.entries)
        if page.next_cursor is None:
            return pages
        before = page.next_cursor


def test_timeline_is_newest_first_across_sources():
    member = MemberFactory()
    _mixed_history(member, same_time=NOW - timedelta(days=2))

    entries = timeline_page(member_id=member.pk, page_size=100).entries

    keys = [(e.at, e.kind, e.id) for e in entries]
    assert keys == sorted(keys, reverse=True)
    # 4 orders + 10 touchpoints + 2 consents + 3 notes
    assert len(entries) == 19
    assert {e.kind for e in entries} == {"order", "touchpoint", "consent", "note"}


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 19, 20])
def test_keyset_paging_loses_and_repeats_nothing(page_size):
    member = MemberFactory()
    _mixed_history(member, same_time=NOW - timedelta(days=2))
    everything = timeline_page(member_id=member.pk, page_size=100).entries

    pages = _all_pages(member.pk, page_size)

    paged = [(e.kind, e.id) for page in pages for e in page]
    assert paged == [(e.kind, e.id) for e in everything]
    assert all(len(page) == page_size for page in pages[:-1])


def test_cursor_survives_its_url_form():
    cursor = Cursor(NOW - timedelta(microseconds=5), "order", 42)
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode("garbage") is None
    assert Cursor.decode("2026-01-01T00:00:00|order|x") is None
    assert Cursor.decode("2026-01-01T00:00:00|order|1") is None  # naive time


def test_returns_name_their_sale_and_cancelled_orders_say_so():
    member = MemberFactory()
    _mixed_history(member, same_time=NOW - timedelta(days=2))

    entries = timeline_page(member_id=member.pk, page_size=100).entries
    orders = {e.obj.external_no: e for e in entries if e.kind == "order"}

    assert "S1" in orders["R1"].detail and orders["R1"].amount_twd == -400
    assert orders["W1"].status == str(Order.Status.CANCELLED.label)
    assert orders["W1"].channel == "web" and orders["S1"].channel == "store"


def test_merges_show_on_both_sides():
    older, newer = MemberFactory(), MemberFactory()
    log = member_merge_by_hand(first=older, second=newer, reason="same person", actor=None)

    survivor_entries = timeline_page(member_id=older.pk).entries
    merged_entries = timeline_page(member_id=newer.pk).entries

    assert [(e.kind, e.id) for e in survivor_entries] == [("merge", log.pk)]
    assert newer.member_no in survivor_entries[0].title
    assert older.member_no in merged_entries[0].title
    assert MergeLog.objects.count() == 1


def test_a_registered_source_joins_the_timeline(monkeypatch):
    member = MemberFactory()
    monkeypatch.setattr(TIMELINE_SOURCES, "_items", dict(TIMELINE_SOURCES._items))

    # A kind no app registers (loyalty's real source is "points").
    def stamps(member_id, before, limit):
        entry = TimelineEntry(at=NOW, kind="stamps", id=1, title="+1 stamp")
        return [entry] if before is None or entry.cursor < before else []

    register_timeline_source(TimelineSource(kind="stamps", fetch=stamps))

    assert [e.title for e in timeline_page(member_id=member.pk).entries] == ["+1 stamp"]


def test_one_query_per_source_per_page(django_assert_num_queries):
    member = MemberFactory()
    _mixed_history(member, same_time=NOW - timedelta(days=2))

    # crm's five sources and whatever other apps registered (campaigns' messages): one each.
    from crm.timeline import timeline_sources

    with django_assert_num_queries(len(timeline_sources())):
        timeline_page(member_id=member.pk, page_size=5)
