"""The unused-points job: wallet holders get a card update with a change message, the others
the automated message with their balance, expiring points and the expiry date; once a month."""

from datetime import date, datetime

import pytest

from campaigns.models import Message
from campaigns.personalise import personalisation_values
from loyalty.models import LoyaltyJob, LoyaltyJobMessage, LoyaltyJobRun, PointsTransaction
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from loyalty.services.points_reminder import (
    DEFAULT_WALLET_MESSAGE,
    TRIGGER,
    points_reminder_job_run,
)
from loyalty.services.wallet import wallet_pass_issue
from tests.campaigns.settings_helpers import use_sandbox
from tests.loyalty.jobs_helpers import DAY, NOW, TAIPEI, deliveries, member, run_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path):
    use_sandbox(settings, tmp_path)
    settings.LOYALTY_REMINDER_EXPIRY_DAYS = 30
    settings.LOYALTY_REMINDER_MIN_POINTS = 500


def _with_points(m, *lots):
    """Earn lots [(points, expires_on)] for member m."""
    account_id = accounts_ensure(member_ids=[m.pk])[m.pk]
    entries_post(
        entries=[
            Entry(
                account_id,
                PointsTransaction.Kind.EARN,
                points,
                f"t:{account_id}:{n}",
                PointsTransaction.Source.ORDER,
                expires_on=expires_on,
            )
            for n, (points, expires_on) in enumerate(lots)
        ]
    )
    return m


def _in_wallet(m):
    card = wallet_pass_issue(member_id=m.pk, platform="apple")
    card.installed = True
    card.save(update_fields=["installed"])
    return card


def test_wallet_holders_get_a_card_update_the_others_a_message():
    expiring = _with_points(member(), (120, date(2026, 12, 20)), (80, date(2027, 6, 1)))
    holder = _with_points(member(), (300, date(2026, 12, 31)))
    card = _in_wallet(holder)
    not_due = _with_points(member(), (100, date(2027, 6, 1)))
    uninstalled = _with_points(member(), (50, date(2026, 12, 10)))
    wallet_pass_issue(member_id=uninstalled.pk, platform="google")  # issued, never saved

    run = points_reminder_job_run(day=DAY, now=NOW)

    assert run.status == LoyaltyJobRun.Status.DONE, run.error
    assert run.period == "2026-12"
    assert run.counts == {"due": 3, "new": 3, "already": 0, "campaign": 2, "wallet": 1}
    paths = dict(
        LoyaltyJobMessage.objects.filter(job=LoyaltyJob.POINTS_REMINDER).values_list(
            "member_id", "path"
        )
    )
    assert paths == {expiring.pk: "campaign", uninstalled.pk: "campaign", holder.pk: "wallet"}
    card.refresh_from_db()
    assert card.changed_at is not None
    assert card.change_message == f"{DEFAULT_WALLET_MESSAGE}（2026/12）"
    # the others through the pipeline, with their figures in the message
    run_pipeline(run.campaign, now=NOW)
    assert deliveries(run.campaign) == {
        expiring.pk: ("sent", ""),
        uninstalled.pk: ("sent", ""),
    }
    assert not_due.pk not in paths
    values = personalisation_values(
        member_ids=[expiring.pk],
        names=["points", "points_expiring", "points_expiry_date"],
    )[expiring.pk]
    assert values["points"] == "200"


def test_expiring_points_and_date_fields(settings):
    m = _with_points(member(), (120, date(2026, 12, 20)), (80, date(2026, 12, 28)))
    from loyalty.selectors_jobs import _expiring

    assert _expiring([m.pk], date(2026, 12, 7)) == {m.pk: (200, date(2026, 12, 20))}


def test_the_change_message_is_the_messages_push_title():
    holder = _with_points(member(), (300, date(2026, 12, 31)))
    card = _in_wallet(holder)
    points_reminder_job_run(day=DAY, now=NOW)  # makes the template
    template = LoyaltyJobMessage.objects.get(member=holder).run.campaign
    assert template is None  # only wallet holders: no message campaign
    from campaigns.models import Campaign

    template = Campaign.objects.get(trigger=TRIGGER)
    Message.objects.filter(campaign=template, channel="push").update(
        content={"title": "{{name}}，點數快到期囉", "body": "x"}
    )
    card.changed_at = None
    card.save(update_fields=["changed_at"])
    LoyaltyJobMessage.objects.all().delete()
    points_reminder_job_run(day=date(2027, 1, 7), now=datetime(2027, 1, 7, 10, tzinfo=TAIPEI))
    card.refresh_from_db()
    assert card.change_message == "，點數快到期囉（2027/01）"


def test_once_a_month():
    _with_points(member(), (120, date(2026, 12, 20)))
    points_reminder_job_run(day=DAY, now=NOW)
    again = points_reminder_job_run(day=date(2026, 12, 8), now=NOW)
    assert again.counts["new"] == 0
    assert again.counts["already"] == 1


def test_each_months_wallet_reminder_changes_the_cards_value():
    holder = _with_points(member(), (300, date(2026, 12, 31)), (200, date(2027, 1, 20)))
    card = _in_wallet(holder)
    points_reminder_job_run(day=DAY, now=NOW)
    card.refresh_from_db()
    december = card.change_message
    points_reminder_job_run(day=date(2027, 1, 7), now=datetime(2027, 1, 7, 9, tzinfo=TAIPEI))
    card.refresh_from_db()
    # Apple Wallet notifies only when the field's value changes
    assert card.change_message != december
    assert card.change_message.endswith("（2027/01）")
