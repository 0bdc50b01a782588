"""The KPI pages narrow by a segment through a kept snapshot of its members: taken once when a
page first asks, reused while fresh, taken again when the rules change, kept current by the
refresh while pages ask for it, forgotten when nobody does."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Member, Segment
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import SegmentSnapshot, SegmentSnapshotMember
from omnichannel.kpis.segments import (
    SEGMENT_SNAPSHOT_AGE,
    SEGMENT_SNAPSHOT_KEEP,
    segment_snapshots_refresh,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _gender(value: str) -> dict:
    return {"op": "and", "rules": [{"rule": "gender", "operator": "is", "value": value}]}


def _narrowed(segment: Segment) -> set[int]:
    """The member ids a page's filters let through, among every member."""
    filters = KpiFilters(start=TODAY - timedelta(days=6), end=TODAY, segment=segment)
    return set(Member.objects.filter(filters.member_q("pk")).values_list("pk", flat=True))


def _snapshot_members(segment: Segment) -> set[int]:
    rows = SegmentSnapshotMember.objects.filter(segment_id=segment.pk)
    return set(rows.values_list("member_id", flat=True))


def test_a_page_takes_the_snapshot_once_and_reads_it_while_fresh():
    woman, man = MemberFactory(gender="female"), MemberFactory(gender="male")
    women = Segment.objects.create(name="Women", definition=_gender("female"))

    assert _narrowed(women) == {woman.pk}
    snapshot = SegmentSnapshot.objects.get(segment_id=women.pk)
    assert (snapshot.members, _snapshot_members(women)) == (1, {woman.pk})

    Member.objects.filter(pk=man.pk).update(gender="female")  # joins the segment's rules
    assert _narrowed(women) == {woman.pk}  # the snapshot is fresh: read, not taken again
    assert SegmentSnapshot.objects.get(segment_id=women.pk).taken_at == snapshot.taken_at

    SegmentSnapshot.objects.filter(pk=snapshot.pk).update(
        taken_at=timezone.now() - SEGMENT_SNAPSHOT_AGE - timedelta(seconds=1)
    )
    assert _narrowed(women) == {woman.pk, man.pk}  # too old for a page: taken again


def test_changed_rules_take_the_snapshot_again_at_once():
    woman, man = MemberFactory(gender="female"), MemberFactory(gender="male")
    segment = Segment.objects.create(name="Some", definition=_gender("female"))
    assert _narrowed(segment) == {woman.pk}

    segment.definition = _gender("male")
    segment.save()

    assert _narrowed(segment) == {man.pk}
    assert _snapshot_members(segment) == {man.pk}


def test_the_refresh_keeps_used_snapshots_current_and_forgets_the_rest():
    woman, man = MemberFactory(gender="female"), MemberFactory(gender="male")
    women = Segment.objects.create(name="Women", definition=_gender("female"))
    men = Segment.objects.create(name="Men", definition=_gender("male"))
    gone = Segment.objects.create(name="Gone", definition=_gender("female"))
    for segment in (women, men, gone):
        _narrowed(segment)
    long_ago = timezone.now() - SEGMENT_SNAPSHOT_KEEP - timedelta(minutes=1)
    SegmentSnapshot.objects.filter(segment_id=men.pk).update(used_at=long_ago)
    SegmentSnapshot.objects.update(taken_at=timezone.now() - timedelta(minutes=10))
    used_at = SegmentSnapshot.objects.get(segment_id=women.pk).used_at
    gone.delete()
    Member.objects.filter(pk=man.pk).update(gender="female")

    assert segment_snapshots_refresh() == 2  # the women's snapshot, taken again

    assert set(SegmentSnapshot.objects.values_list("segment_id", flat=True)) == {women.pk}
    assert _snapshot_members(women) == {woman.pk, man.pk}
    assert not SegmentSnapshotMember.objects.exclude(segment_id=women.pk).exists()
    # The refresh's own take is no page's use: only pages keep a snapshot alive.
    assert SegmentSnapshot.objects.get(segment_id=women.pk).used_at == used_at


def test_a_fresh_snapshot_is_left_alone_by_the_refresh():
    MemberFactory(gender="female")
    women = Segment.objects.create(name="Women", definition=_gender("female"))
    _narrowed(women)
    taken_at = SegmentSnapshot.objects.get(segment_id=women.pk).taken_at

    assert segment_snapshots_refresh() == 0
    assert SegmentSnapshot.objects.get(segment_id=women.pk).taken_at == taken_at
