"""Winner mode: variants to a test share, the winner by the chosen metric to the rest after N
hours, once; the campaign waits for it; cancel during the wait; the sweep catches a lost task."""

from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.services import (
    campaign_cancel,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_save,
    campaign_snapshot,
    campaigns_sweep,
    send_batch_run,
)
from campaigns.services.sending import campaign_finish_if_done
from campaigns.services.winner import campaign_winner_choose, winner_pick, winner_scores
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

TAIPEI = ZoneInfo("Asia/Taipei")
LINE_A = {"messages": [{"type": "text", "text": "A"}]}
LINE_B = {"messages": [{"type": "text", "text": "B"}]}


def _members(n: int) -> list[int]:
    ids = []
    for _ in range(n):
        member = MemberFactory(online=True)
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
        ids.append(member.pk)
    return ids


def _launched(metric: str = "clicks", members: int = 20, **fields) -> Campaign:
    """20 members, A/B 50/50, the test share 50%: 5 get A, 5 get B, 10 wait."""
    _members(members)
    campaign = campaign_save(
        name="雙十一",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=["line"],
        contents={"line": LINE_A},
        variant_contents={"B": {"line": LINE_B}},
        variant_split={"A": 50, "B": 50},
        winner_metric=metric,
        winner_test_percent=50,
        winner_after_hours=4,
        **fields,
    )
    campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def _send_all(campaign: Campaign, now: datetime | None = None) -> None:
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id, now=now)


def _test_rows(campaign: Campaign, variant: str):
    return Delivery.objects.filter(campaign=campaign, variant=variant).order_by("pk")


def _waiting(campaign: Campaign):
    return Delivery.objects.filter(campaign=campaign, variant="")


def _later(campaign: Campaign, hours: float = 4) -> datetime:
    return campaign.launched_at + timedelta(hours=hours)


def test_at_launch_only_the_test_share_gets_variants_and_batches():
    campaign = _launched()
    assert _test_rows(campaign, "A").count() == 5
    assert _test_rows(campaign, "B").count() == 5
    waiting = _waiting(campaign)
    assert waiting.count() == 10
    assert set(waiting.values_list("status", "batch")) == {("pending", None)}
    assert sum(SendBatch.objects.filter(campaign=campaign).values_list("size", flat=True)) == 10


def test_the_campaign_is_not_done_while_members_wait_for_the_winner():
    campaign = _launched()
    _send_all(campaign)
    assert not campaign_finish_if_done(campaign_id=campaign.pk)
    campaigns_sweep(now=_later(campaign, 1))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert _waiting(campaign).count() == 10


@pytest.mark.parametrize(
    ("metric", "a", "b", "winner"),
    [
        # clicks: A 1 of 5 clicked, B 3 of 5
        ("clicks", {"clicked": 1}, {"clicked": 3}, "B"),
        # conversions: A 2 of 5, B 1 of 5 (B has more clicks, which does not count here)
        ("conversions", {"converted": 2}, {"converted": 1, "clicked": 5}, "A"),
        # revenue per member: A 1,000 / 5 = 200, B 2 × 600 / 5 = 240
        ("revenue", {"revenue": [1000]}, {"revenue": [600, 600]}, "B"),
        # a tie goes to the alphabetically first
        ("clicks", {"clicked": 2}, {"clicked": 2}, "A"),
    ],
)
def test_the_winner_is_the_best_variant_on_the_metric(metric, a, b, winner):
    campaign = _launched(metric)
    at = campaign.launched_at + timedelta(hours=1)
    for variant, data in (("A", a), ("B", b)):
        ids = list(_test_rows(campaign, variant).values_list("pk", flat=True))
        Delivery.objects.filter(pk__in=ids[: data.get("clicked", 0)]).update(clicked_at=at)
        Delivery.objects.filter(pk__in=ids[: data.get("converted", 0)]).update(converted_at=at)
        for pk, revenue in zip(ids, data.get("revenue", []), strict=False):
            Delivery.objects.filter(pk=pk).update(revenue_twd=revenue, converted_at=at)

    assert campaign_winner_choose(campaign_id=campaign.pk, now=_later(campaign)) == winner
    campaign.refresh_from_db()
    assert campaign.winner_variant == winner
    assert campaign.winner_chosen_at == _later(campaign)


def test_winner_scores_and_pick_on_hand_data():
    campaign = _launched("revenue")
    ids = list(_test_rows(campaign, "A").values_list("pk", flat=True))
    Delivery.objects.filter(pk=ids[0]).update(revenue_twd=500)
    scores = winner_scores(campaign=campaign)
    assert scores == {"A": Fraction(100), "B": Fraction(0)}
    assert winner_pick(scores) == "A"
    assert winner_pick({"C": Fraction(1), "B": Fraction(1), "A": Fraction(0)}) == "B"


def test_the_winner_goes_to_the_waiting_members_once_and_the_campaign_ends(tmp_path):
    campaign = _launched()
    _send_all(campaign)
    clicked = list(_test_rows(campaign, "B").values_list("pk", flat=True))[:2]
    Delivery.objects.filter(pk__in=clicked).update(clicked_at=timezone.now())

    # Not yet due: nothing happens
    assert campaign_winner_choose(campaign_id=campaign.pk, now=_later(campaign, 3)) is None
    assert _waiting(campaign).count() == 10

    assert campaign_winner_choose(campaign_id=campaign.pk, now=_later(campaign)) == "B"
    # A second run (the sweep, a redelivered task) does nothing
    assert campaign_winner_choose(campaign_id=campaign.pk, now=_later(campaign, 5)) is None
    assert campaigns_sweep(now=_later(campaign, 5))["winners"] == 0

    assert not _waiting(campaign).exists()
    assert _test_rows(campaign, "B").count() == 15
    winners_batches = SendBatch.objects.filter(campaign=campaign, status=SendBatch.Status.QUEUED)
    assert sum(winners_batches.values_list("size", flat=True)) == 10
    _send_all(campaign, now=_later(campaign, 5))
    _send_all(campaign, now=_later(campaign, 5))  # twice: every batch is done, none resent

    assert Delivery.objects.filter(campaign=campaign, status="sent").count() == 20
    sent_lines = [
        line
        for path in (tmp_path / "sandbox").glob("line-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(sent_lines) == 20
    assert sum('"text": "B"' in line for line in sent_lines) == 15
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


def test_the_sweep_chooses_a_winner_whose_task_was_lost():
    campaign = _launched()
    _send_all(campaign)
    assert campaigns_sweep(now=_later(campaign, 3))["winners"] == 0
    assert campaigns_sweep(now=_later(campaign, 4))["winners"] == 1
    campaign.refresh_from_db()
    assert campaign.winner_variant == "A"  # no clicks anywhere: a tie, A
    assert not _waiting(campaign).exists()


def test_the_winners_batches_wait_for_quiet_hours(settings):
    settings.CAMPAIGN_QUIET_HOURS = {"line": "21:00-09:00", "sms": "", "push": "", "email": ""}
    campaign = _launched()
    night = datetime(2026, 12, 8, 23, 0, tzinfo=TAIPEI)
    Campaign.objects.filter(pk=campaign.pk).update(launched_at=night - timedelta(hours=4))
    campaign_winner_choose(campaign_id=campaign.pk, now=night)
    new = SendBatch.objects.filter(campaign=campaign, seq__gte=1)  # after the launch's (0)
    assert new.exists()
    assert set(new.values_list("not_before", flat=True)) == {
        datetime(2026, 12, 9, 9, 0, tzinfo=TAIPEI)
    }


def test_cancel_during_the_wait_suppresses_the_waiting_members():
    campaign = _launched()
    _send_all(campaign)
    campaign_cancel(campaign=campaign)
    waiting = _waiting(campaign)
    assert set(waiting.values_list("status", "reason")) == {("suppressed", "cancelled")}
    assert campaign_winner_choose(campaign_id=campaign.pk, now=_later(campaign)) is None
    assert _waiting(campaign).count() == 10
    assert not SendBatch.objects.filter(campaign=campaign, status=SendBatch.Status.QUEUED).exists()


def test_a_winner_chosen_while_paused_is_sent_after_the_resume():
    campaign = _launched()
    _send_all(campaign)
    campaign_pause(campaign=campaign)
    assert campaign_winner_choose(campaign_id=campaign.pk, now=_later(campaign)) == "A"
    queued = SendBatch.objects.filter(campaign=campaign, status=SendBatch.Status.QUEUED)
    assert queued.exists()
    _send_all(campaign)  # paused: the workers leave them queued
    assert queued.exists()
    campaign_resume(campaign=campaign)
    _send_all(campaign, now=_later(campaign, 5))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert Delivery.objects.filter(campaign=campaign, status="sent").count() == 20


def test_the_campaign_page_says_when_the_winner_comes_and_which_it_was(login_as):
    campaign = _launched()
    page = login_as("bob").get(f"/campaigns/{campaign.pk}/").content.decode()
    status = page.split('data-testid="winner-status"')[1].split("</p>")[0]
    assert 'data-winner=""' in status and "50%" in status
    campaign_winner_choose(campaign_id=campaign.pk, now=_later(campaign))
    page = login_as("bob").get(f"/campaigns/{campaign.pk}/").content.decode()
    status = page.split('data-testid="winner-status"')[1].split("</p>")[0]
    assert 'data-winner="A"' in status and "A" in status.split(">", 1)[1]
