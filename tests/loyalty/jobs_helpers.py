"""Shared set-up of the beat jobs' tests: members reachable on a channel, the sandbox pipeline,
and a run campaign driven to its end in the test's thread."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.services import campaign_snapshot, send_batch_run
from crm.models import BirthdayCalendar
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

TAIPEI = ZoneInfo("Asia/Taipei")
DAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=TAIPEI)
NOT_TODAY = date(1980, 6, 15)


def member(*, birthday=NOT_TODAY, email: bool | str = True, calendar=BirthdayCalendar.SOLAR):
    """A member with an email address: True = opted in, "out" = opted out, False = none."""
    m = MemberFactory(birthday=birthday, birthday_calendar=calendar)
    if email:
        IdentityFactory(member=m, email=True)
        ConsentFactory(member=m, channel="email", opted_out=email == "out")
    return m


def run_pipeline(campaign: Campaign | None, now=None) -> None:
    """Snapshot a launching run campaign and send its batches (what the workers would do)."""
    if campaign is None:
        return
    campaign_snapshot(campaign_id=campaign.pk, now=now)
    for batch_id in SendBatch.objects.filter(
        campaign=campaign, status=SendBatch.Status.QUEUED
    ).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id, now=now)


def deliveries(campaign: Campaign) -> dict[int, tuple[str, str]]:
    return {
        member_id: (status, reason)
        for member_id, status, reason in Delivery.objects.filter(campaign=campaign).values_list(
            "member_id", "status", "reason"
        )
    }
