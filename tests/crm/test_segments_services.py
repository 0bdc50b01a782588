"""Saved segments: create, change, delete, cached counts, ready-made segments."""

import pytest
from django.utils import translation

from crm.models import Segment
from crm.segments import SegmentDefinitionError
from crm.segments.ready_made import LAPSED_DAYS, READY_MADE
from crm.services.segments import (
    READY_MADE_FIXED,
    SegmentError,
    segment_count_refresh,
    segment_counts_refresh,
    segment_create,
    segment_delete,
    segment_update,
    segments_ready_made_sync,
)
from crm.services.stats import member_stats_rebuild
from crm.tasks import segment_counts_refresh_task
from omnichannel.schedule import SCHEDULE
from tests.factories import MemberFactory, OrderFactory

pytestmark = pytest.mark.django_db

WOMEN = {"op": "and", "rules": [{"rule": "gender", "operator": "is", "value": "female"}]}
MEN = {"op": "and", "rules": [{"rule": "gender", "operator": "is", "value": "male"}]}


def test_create_counts_the_segment(alice):
    MemberFactory(gender="female")
    MemberFactory(gender="male")

    segment = segment_create(name="  Women ", definition=WOMEN, created_by=alice)

    assert (segment.name, segment.member_count, segment.created_by) == ("Women", 1, alice)
    assert segment.counted_at is not None


def test_create_refuses_a_bad_definition_or_a_blank_name():
    with pytest.raises(SegmentDefinitionError) as caught:
        segment_create(name="x", definition={"op": "and", "rules": [{"rule": "nope"}]})
    assert "rules[0].rule" in caught.value.as_dict()
    with pytest.raises(SegmentError), translation.override("en"):
        segment_create(name=" ", definition=WOMEN)
    assert not Segment.objects.filter(ready_made="").exists()


def test_update_recounts_a_new_definition():
    MemberFactory(gender="male")
    segment = segment_create(name="Women", definition=WOMEN)

    segment_update(segment=segment, name="Men", definition=MEN)

    segment.refresh_from_db()
    assert (segment.name, segment.member_count, segment.definition) == ("Men", 1, MEN)


def test_ready_made_segments_cannot_be_changed_or_deleted():
    segments_ready_made_sync()
    champions = Segment.objects.get(ready_made="rfm_champions")
    with pytest.raises(SegmentError) as caught:
        segment_update(segment=champions, name="Mine")
    assert str(caught.value) == str(READY_MADE_FIXED)
    with pytest.raises(SegmentError):
        segment_delete(segment=champions)


def test_delete_removes_a_saved_segment():
    segment = segment_create(name="Women", definition=WOMEN)
    segment_delete(segment=segment)
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_ready_made_sync_is_idempotent_and_every_one_compiles():
    Segment.objects.all().delete()
    assert segments_ready_made_sync() == len(READY_MADE) == 12
    before = list(Segment.objects.values_list("ready_made", "updated_at").order_by("pk"))
    assert segments_ready_made_sync() == 0
    assert list(Segment.objects.values_list("ready_made", "updated_at").order_by("pk")) == before
    with translation.override("zh-hant"):
        names = [s.display_name for s in Segment.objects.order_by("pk")]
    assert len(names) == 12


def test_the_counts_refresh_is_safe_to_run_twice():
    segments_ready_made_sync()
    store, web = MemberFactory(), MemberFactory(online=True)
    OrderFactory(member=store, channel="store")
    OrderFactory(member=store, channel="web")
    OrderFactory(member=web, channel="web")
    member_stats_rebuild()

    assert segment_counts_refresh_task() == 12
    first = dict(Segment.objects.values_list("ready_made", "member_count"))
    segment_counts_refresh()
    assert dict(Segment.objects.values_list("ready_made", "member_count")) == first
    assert (first["omo"], first["online_only"], first["offline_only"], first["lapsed"]) == (
        1,
        1,
        0,
        0,
    )
    assert first["rfm_champions"] + first["rfm_potential"] + first["rfm_new"] > 0


def test_a_definition_that_no_longer_compiles_counts_as_unknown():
    segment = segment_create(name="Women", definition=WOMEN)
    Segment.objects.filter(pk=segment.pk).update(
        definition={"op": "and", "rules": [{"rule": "gone_app_rule", "operator": "is"}]}
    )
    assert segment_count_refresh(segment_id=segment.pk) is None
    segment.refresh_from_db()
    assert segment.member_count is None


def test_lapsed_means_no_purchase_for_half_a_year():
    assert LAPSED_DAYS == 180
    lapsed = next(r for r in READY_MADE if r.key == "lapsed")
    assert lapsed.definition["rules"][0] == {"rule": "recency", "operator": "gte", "value": 180}


def test_beat_refreshes_the_counts_hourly():
    job = next(j for j in SCHEDULE if j.task == "crm.tasks.segment_counts_refresh_task")
    assert (job.minute, job.hour) == ("10", "*")
