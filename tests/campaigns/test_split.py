"""Who gets which variant and who is held out: exact sizes, determinism, store holdout, the
global control group, and the SQL's md5 agreeing with Python's on this database."""

import hashlib
import json

import pytest
from django.db import connection

from campaigns.control_group import control_group_threshold, in_control_group
from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.figures import campaign_figures_recount
from campaigns.split import (
    holdout_size,
    member_rank_key,
    split_plan,
    split_sizes,
)
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

LINE_A = {"messages": [{"type": "text", "text": "A：週年慶開跑"}]}
LINE_B = {"messages": [{"type": "text", "text": "B：全館八折"}]}
EMAIL_A = {"subject": "A", "text": "A text", "html": "<p>A</p>"}


def _members(n: int, *, store=None, reachable: bool = True) -> list[int]:
    ids = []
    for _ in range(n):
        member = MemberFactory(home_store=store) if store else MemberFactory(online=True)
        if reachable:
            IdentityFactory(member=member, line=True)
            ConsentFactory(member=member, channel="line")
        ids.append(member.pk)
    return ids


def _campaign(**fields) -> Campaign:
    fields.setdefault("channels", ["line"])
    return campaign_save(
        name="週年慶",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        contents={"line": LINE_A, "email": EMAIL_A},
        **fields,
    )


def _launch(campaign: Campaign) -> Campaign:
    campaign_launch(campaign=campaign)
    assert campaign_snapshot(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def _arms(campaign: Campaign) -> dict[int, str]:
    """member → "holdout"/"store_holdout"/"control_group" or the variant."""
    return {
        member_id: reason if status == Delivery.Status.HELD_OUT else variant
        for member_id, status, reason, variant in Delivery.objects.filter(
            campaign=campaign
        ).values_list("member_id", "status", "reason", "variant")
    }


# --- the rules in Python -------------------------------------------------------------------


def test_split_sizes_are_exact_by_largest_remainder():
    assert split_sizes(90, {"A": 50, "B": 50}) == {"A": 45, "B": 45}
    assert split_sizes(10, {"A": 34, "B": 33, "C": 33}) == {"A": 4, "B": 3, "C": 3}
    assert split_sizes(7, {"B": 50, "A": 50}) == {"A": 4, "B": 3}  # a tie: variant order
    # 0.3, 0.3, 2.4: the one left goes to the largest remainder (C)
    assert split_sizes(3, {"A": 10, "B": 10, "C": 80}) == {"A": 0, "B": 0, "C": 3}
    assert split_sizes(5, {}) == {"A": 5}
    assert holdout_size(100, 10) == 10
    assert holdout_size(5, 10) == 1  # 0.5 rounds up
    assert holdout_size(4, 10) == 0


def test_the_rank_is_md5_of_campaign_and_member():
    assert member_rank_key(campaign_id=7, member_id=42) == (
        hashlib.md5(b"7:42").hexdigest(),  # noqa: S324 (a split, not a secret)
        42,
    )


def test_md5_in_sql_agrees_with_python():
    """The launch ranks and picks the control group in SQL: on SQLite through the md5
    function the app registers, on PostgreSQL its own; both must equal Python's."""
    threshold = control_group_threshold(37)
    with connection.cursor() as cursor:
        for member_id in (1, 42, 99_999, 2**40):
            cursor.execute(
                "SELECT md5(CAST(%s AS text) || ':' || CAST(%s AS text))", ["7", member_id]
            )
            assert cursor.fetchone()[0] == member_rank_key(campaign_id=7, member_id=member_id)[0]
        collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
        # Orders of hex text: the database's (collated as the launch does) and Python's.
        values = [hashlib.md5(str(i).encode()).hexdigest() for i in range(200)]  # noqa: S324
        cursor.execute(
            "SELECT v FROM (SELECT md5(CAST(n AS text)) AS v FROM ("  # noqa: S608
            + " UNION ALL ".join(f"SELECT {i} AS n" for i in range(200))
            + f") AS numbers) AS t ORDER BY v{collate}"
        )
        assert [row[0] for row in cursor.fetchall()] == sorted(values)
        cursor.execute(f"SELECT %s{collate} < %s{collate}", ["5eaaaaaa", threshold])
        assert bool(cursor.fetchone()[0]) == (threshold > "5eaaaaaa")


# --- the launch ----------------------------------------------------------------------------


def test_holdout_10_percent_and_a_b_50_50_of_100_members_are_10_45_45():
    # Given 100 reachable members, a 10% holdout and an A/B split 50/50
    ids = _members(100)
    campaign = _launch(_campaign(variant_split={"A": 50, "B": 50}, holdout_percent=10))

    # Then exactly 10 are held out and 45 get each variant, the members Python ranks there
    arms = _arms(campaign)
    assert sorted(arms.values()).count("holdout") == 10
    assert sorted(arms.values()).count("A") == 45
    assert sorted(arms.values()).count("B") == 45
    assert arms == split_plan(
        campaign_id=campaign.pk,
        member_ids=ids,
        holdout_percent=10,
        variant_split=campaign.variant_split,
    )
    held = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.HELD_OUT)
    assert set(held.values_list("variant", "channel", "batch", "reason")) == {
        ("", "", None, "holdout")
    }
    assert held.first().created_at == campaign.launched_at or held.first().created_at
    # Batches only for the 90 to send
    assert sum(SendBatch.objects.filter(campaign=campaign).values_list("size", flat=True)) == 90
    assert not Delivery.objects.filter(
        campaign=campaign, status=Delivery.Status.PENDING, batch__isnull=True
    ).exists()
    assert campaign.audience_count == 100


def test_the_split_is_the_same_when_the_same_campaign_is_prepared_again():
    _members(40)
    campaign = _launch(_campaign(variant_split={"A": 30, "B": 30, "C": 40}, holdout_percent=20))
    first = _arms(campaign)
    # A rerun of the snapshot from scratch (the same campaign id) gives every member the same arm
    Delivery.objects.filter(campaign=campaign).delete()
    SendBatch.objects.filter(campaign=campaign).delete()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.LAUNCHING)
    assert campaign_snapshot(campaign_id=campaign.pk)
    assert _arms(campaign) == first
    assert sorted(first.values()).count("holdout") == 8
    # 32 to split 30/30/40: 9.6, 9.6, 12.8 → 9, 9, 12 and the two left to C (.8), then A (.6,
    # before B in a tie)
    assert [sorted(first.values()).count(v) for v in "ABC"] == [10, 9, 13]


def test_another_campaign_draws_other_members():
    ids = _members(60)
    one = _launch(_campaign(holdout_percent=50))
    two = _launch(_campaign(holdout_percent=50))
    held_one = {m for m, arm in _arms(one).items() if arm == "holdout"}
    held_two = {m for m, arm in _arms(two).items() if arm == "holdout"}
    assert len(held_one) == len(held_two) == 30
    assert held_one != held_two
    assert held_one | {m for m in ids if m not in held_one} == set(ids)


def test_unreachable_members_of_the_sent_arm_stay_suppressed_with_their_variant():
    reachable = _members(6)
    unreachable = _members(4, reachable=False)
    campaign = _launch(_campaign(variant_split={"A": 50, "B": 50}))
    rows = {
        m: (status, reason, variant)
        for m, status, reason, variant in Delivery.objects.filter(campaign=campaign).values_list(
            "member_id", "status", "reason", "variant"
        )
    }
    plan = split_plan(
        campaign_id=campaign.pk,
        member_ids=reachable + unreachable,
        variant_split=campaign.variant_split,
    )
    for m in unreachable:
        assert rows[m] == ("suppressed", "no_channel", plan[m])
    for m in reachable:
        assert rows[m] == ("pending", "", plan[m])


def test_held_out_stores_are_held_out_before_the_random_holdout():
    # Given 6 members of a held-out store and 20 elsewhere, a 10% holdout
    held_store, kept_store = StoreFactory(), StoreFactory()
    at_held = _members(6, store=held_store)
    elsewhere = _members(20, store=kept_store)
    campaign = _launch(_campaign(holdout_percent=10, holdout_store_ids=[held_store.pk]))

    # Then the store's members are store_holdout, and 10% of the other 20 (2) are holdout
    arms = _arms(campaign)
    assert {arms[m] for m in at_held} == {"store_holdout"}
    assert arms == {
        **dict.fromkeys(at_held, "store_holdout"),
        **split_plan(campaign_id=campaign.pk, member_ids=elsewhere, holdout_percent=10),
    }
    assert list(arms.values()).count("holdout") == 2


def test_the_global_control_group_is_held_out_of_marketing_campaigns_only(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 30
    settings.CAMPAIGN_CONTROL_GROUP_SALT = "test-salt"
    ids = _members(40)
    control = {m for m in ids if in_control_group(member_id=m)}
    assert 0 < len(control) < 40  # 30% of 40, give or take

    marketing = _launch(_campaign(holdout_percent=10))
    arms = _arms(marketing)
    assert {m for m, arm in arms.items() if arm == "control_group"} == control
    rest = [m for m in ids if m not in control]
    assert list(arms.values()).count("holdout") == holdout_size(len(rest), 10)

    service = _launch(_campaign(is_marketing=False))
    assert set(_arms(service).values()) == {"A"}


def test_the_control_group_is_the_same_members_in_every_campaign(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 25
    _members(30)
    one = {m for m, a in _arms(_launch(_campaign())).items() if a == "control_group"}
    two = {m for m, a in _arms(_launch(_campaign())).items() if a == "control_group"}
    assert one == two and one


# --- sending ---------------------------------------------------------------------------------


def test_each_variant_is_sent_its_own_content_and_a_missing_channel_falls_back_to_a(tmp_path):
    # Given B with its own LINE message, C with none of its own (says what A says)
    _members(12)
    campaign = _launch(
        _campaign(
            variant_split={"A": 34, "B": 33, "C": 33},
            variant_contents={"B": {"line": LINE_B}, "C": {}},
        )
    )
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)

    (written,) = (tmp_path / "sandbox").glob("line-*.jsonl")
    sent = [json.loads(line) for line in written.read_text().splitlines()]
    variant_of = dict(Delivery.objects.filter(campaign=campaign).values_list("pk", "variant"))
    texts = {variant_of[int(row["key"][1:])]: row["content"]["messages"][0]["text"] for row in sent}
    assert texts == {"A": "A：週年慶開跑", "B": "B：全館八折", "C": "A：週年慶開跑"}
    assert len(sent) == 12


def test_the_demo_sent_campaign_is_an_a_b_test_with_a_10_percent_holdout():
    from campaigns.demo import DEMO_SENT, demo_campaigns_seed

    _members(20)
    demo_campaigns_seed(segment=Segment.objects.create(name="All", definition=EMPTY_DEFINITION))
    campaign = Campaign.objects.get(name=DEMO_SENT)
    arms = list(_arms(campaign).values())
    assert (arms.count("holdout"), arms.count("A"), arms.count("B")) == (2, 9, 9)
    assert Delivery.objects.filter(campaign=campaign, status="sent").count() == 18
    assert campaign.status == Campaign.Status.DONE


def test_progress_counts_held_out_members_as_done_and_says_so(login_as, tmp_path, settings):
    # Given a campaign with a 10 % holdout of 20 members, sent through the sandbox
    from tests.campaigns.settings_helpers import use_sandbox

    use_sandbox(settings, tmp_path)
    _members(20)
    campaign = _launch(_campaign(holdout_percent=10))
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE

    # Then the page and the list say 100 %, with the 2 held out named (not as suppressed)
    client = login_as("bob")
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-testid="progress-percent">100%<' in page
    assert "2 位保留（不發送）" in page and "0 已抑制" in page
    campaign_figures_recount(campaign_id=campaign.pk)  # what the end of the send queues
    assert "2 位保留（不發送）" in client.get("/campaigns/").content.decode()
