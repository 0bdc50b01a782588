"""The run goes on past a failing rollup; refresh paths never TRUNCATE; id watermarks re-read
rows committed out of id order; a malformed suppressed count does not fail the messaging
rollup."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import CampaignFigures
from crm.models import Segment, Touchpoint
from loyalty.models import PointsTransaction
from omnichannel.kpis.models import (
    LineFriendsDaily,
    MessagingDaily,
    PointsDaily,
    RollupRun,
    RollupWatermark,
)
from omnichannel.kpis.pages.channels import SEGMENT_NOTE
from omnichannel.kpis.registry import ROLLUPS, Rollup
from omnichannel.kpis.rollups_loyalty import points_refresh, wallet_refresh
from omnichannel.kpis.rollups_messaging import line_friends_refresh, messaging_rebuild
from omnichannel.kpis.selectors_loyalty import members_count
from omnichannel.kpis.services import kpis_refresh
from omnichannel.kpis.watermarks import OVERLAP, id_window, id_window_advance
from tests.factories import MemberFactory
from tests.kpis.test_channels_messaging import _line, messaging  # noqa: F401 (a fixture)
from tests.loyalty.overview_data import Kind, account_for, post, taipei

pytestmark = pytest.mark.django_db


def _marker(name: str):
    def refresh() -> int:
        RollupWatermark.objects.create(name=f"ran.{name}")
        return 1

    return refresh


def _boom() -> int:
    RollupWatermark.objects.create(name="ran.boom")  # rolled back with its savepoint
    raise ValueError("bad row")


def test_a_failing_rollup_does_not_stop_the_ones_after_it():
    with ROLLUPS.scoped():
        ROLLUPS._items = {}
        ROLLUPS.register(Rollup(name="a", refresh=_marker("a"), rebuild=_marker("a"), order=1))
        ROLLUPS.register(Rollup(name="boom", refresh=_boom, rebuild=_boom, order=2))
        ROLLUPS.register(Rollup(name="c", refresh=_marker("c"), rebuild=_marker("c"), order=3))
        with pytest.raises(ValueError, match="bad row"):
            kpis_refresh()
    ran = set(
        RollupWatermark.objects.filter(name__startswith="ran.").values_list("name", flat=True)
    )
    assert ran == {"ran.a", "ran.c"}
    run = RollupRun.objects.get()
    assert run.status == RollupRun.Status.FAILED
    assert run.error == "boom: ValueError: bad row"
    assert run.counts["a"]["rows"] == 1 and run.counts["c"]["rows"] == 1
    assert run.counts["boom"]["error"] == "ValueError: bad row"


def test_the_wallet_refresh_deletes_rather_than_truncates():
    with CaptureQueriesContext(connection) as queries:
        wallet_refresh()
    assert not [q for q in queries if "TRUNCATE" in q["sql"].upper()]
    assert [q for q in queries if q["sql"].upper().startswith("DELETE")]


def _late(model, row):
    """Take `row` out and put it back with the same id: as if its writer committed after a
    refresh that had read past its id."""
    fields = {f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields}
    model.objects.filter(pk=row.pk)._raw_delete(connection.alias)
    return fields


def test_a_ledger_entry_committed_after_a_later_id_is_still_folded_in():
    today = timezone.localdate()
    account = account_for()
    post(account, Kind.EARN, 10, taipei(today))
    post(account, Kind.EARN, 77, taipei(today - timedelta(days=40)))
    post(account, Kind.EARN, 5, taipei(today))
    late = PointsTransaction.objects.order_by("pk")[1]
    fields = _late(PointsTransaction, late)
    points_refresh()  # reads up to the last id, without the late entry
    assert not PointsDaily.objects.filter(day=today - timedelta(days=40)).exists()
    PointsTransaction.objects.bulk_create([PointsTransaction(**fields)])
    points_refresh()
    assert PointsDaily.objects.get(day=today - timedelta(days=40)).credit == 77


def test_a_line_event_committed_after_a_later_id_is_still_counted():
    line_friends_refresh()  # the first refresh is a rebuild: the watermark exists from here
    ann, bob = MemberFactory(home_store=None), MemberFactory(home_store=None)
    old = date(2026, 11, 3)
    _line("line_follow", taipei(old), ann)
    _line("line_follow", taipei(timezone.localdate()), bob)
    late = Touchpoint.objects.filter(kind="line_follow").order_by("pk").first()
    fields = _late(Touchpoint, late)
    line_friends_refresh()
    assert not LineFriendsDaily.objects.filter(day=old).exists()
    Touchpoint.objects.bulk_create([Touchpoint(**fields)])
    line_friends_refresh()
    assert LineFriendsDaily.objects.get(day=old).follows == 1


def test_the_watermark_settles_only_ids_seen_an_overlap_ago():
    now = timezone.now()
    id_window_advance(id_window("t", 100), now=now)
    assert id_window("t", 120).since == 0  # 100 is too young to settle
    id_window_advance(id_window("t", 120), now=now + OVERLAP / 2)
    assert id_window("t", 130).since == 0
    id_window_advance(id_window("t", 130), now=now + OVERLAP)
    assert id_window("t", 150).since == 100
    id_window_advance(id_window("t", 150), now=now + OVERLAP * 2)
    assert id_window("t", 160).since == 130


def test_a_suppressed_count_that_is_not_a_whole_number_counts_zero(messaging):  # noqa: F811
    figures = CampaignFigures.objects.filter(channel="email").first()
    figures.suppressed = {**figures.suppressed, "no_consent": "1.5", "frequency_cap": "x"}
    figures.save(update_fields=["suppressed"])
    messaging_rebuild()
    email = MessagingDaily.objects.get(channel="email")
    assert (email.suppressed_consent, email.suppressed_cap) == (0, 0)


def test_the_members_count_is_read_from_the_wallet_rollup_not_counted_per_request():
    MemberFactory(), MemberFactory()
    wallet_refresh()
    MemberFactory()  # joins after the refresh: counted at the next one
    with CaptureQueriesContext(connection) as queries:
        assert members_count() == 2
    assert not [q for q in queries if "crm_member" in q["sql"]]
    wallet_refresh()
    assert members_count() == 3


def test_the_channels_page_says_a_segment_narrows_only_the_member_figures(login_as):
    women = Segment.objects.create(
        name="Women",
        definition={
            "op": "and",
            "rules": [{"rule": "gender", "operator": "is", "value": "female"}],
        },
    )
    client = login_as("carol")
    assert SEGMENT_NOTE not in client.get("/kpis/channels/").context["content"].notes
    segmented = client.get(f"/kpis/channels/?segment={women.pk}").context["content"]
    assert SEGMENT_NOTE in segmented.notes
