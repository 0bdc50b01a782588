"""A points or tier change reaches the member's wallets once per device, coalesced: the ledger
and the tier moves mark the cards, the push job claims the due ones and APNs (a local HTTP/2
server) is told once per device push token."""

import json
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from crm.models import Touchpoint
from loyalty.models import TierChange, WalletDeviceRegistration, WalletPass
from loyalty.services.ledger import accounts_ensure
from loyalty.services.tiers import tiers_evaluate
from loyalty.services.wallet_push import wallet_updates_push
from loyalty.tasks import wallet_updates_push_task
from omnichannel.schedule import SCHEDULE
from tests.factories import MemberFactory, OrderFactory
from tests.loyalty.servers.apns import apns_key_write
from tests.loyalty.wallet_push_helpers import (
    TOPIC,
    apns_running,
    apple_card,
    device_token,
    points_post,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def apns(tmp_path, settings):
    yield from apns_running(tmp_path, settings)


def _card(pk: int) -> WalletPass:
    return WalletPass.objects.get(pk=pk)


# --- coalescing -------------------------------------------------------------------------------


def test_a_day_of_five_entries_is_one_push_per_device(apns):
    member = MemberFactory()
    phone, watch = device_token(), device_token()
    card = apple_card(member, phone, watch)
    for points in (100, 20, -30, 5, 40):
        points_post(member, points)

    figures = wallet_updates_push()

    assert apns.tokens_pushed() == {phone: 1, watch: 1}
    assert (figures.cards, figures.sent, figures.failed, figures.retried) == (1, 2, 0, 0)
    push = apns.pushes()[0]
    assert push.headers["apns-topic"] == TOPIC
    assert push.headers["apns-push-type"] == "background"
    assert push.headers["apns-priority"] == "5"
    expires_in = int(push.headers["apns-expiration"]) - timezone.now().timestamp()
    assert 23 * 3600 < expires_in <= 24 * 3600
    assert json.loads(push.body) == {}
    card.refresh_from_db()
    assert card.changed_at is None
    assert card.pushed_at == card.updated_at


def test_a_device_holding_two_changed_cards_is_pushed_once(apns):
    phone = device_token()
    first, second = MemberFactory(), MemberFactory()
    apple_card(first, phone, devices=["the-phone"])
    apple_card(second, phone, devices=["the-phone"])
    points_post(first, 10)
    points_post(second, 10)

    figures = wallet_updates_push()

    assert apns.tokens_pushed() == {phone: 1}
    assert (figures.cards, figures.sent) == (2, 1)


def test_the_ledger_marks_the_card_once_keeping_the_earliest_change(apns):
    member = MemberFactory()
    card = apple_card(member, device_token())
    assert card.changed_at is None
    points_post(member, 10)
    first = _card(card.pk).changed_at
    points_post(member, 10)

    assert first is not None
    assert _card(card.pk).changed_at == first


def test_nothing_changed_is_no_push_and_a_second_run_pushes_nothing(apns):
    member = MemberFactory()
    apple_card(member, device_token())
    assert wallet_updates_push().cards == 0
    assert apns.pushes() == []

    points_post(member, 10)
    assert wallet_updates_push().sent == 1
    again = wallet_updates_push()

    assert (again.cards, again.sent) == (0, 0)
    assert len(apns.pushes()) == 1


def test_the_interval_holds_a_card_pushed_a_minute_ago(apns):
    member = MemberFactory()
    phone = device_token()
    card = apple_card(member, phone)
    points_post(member, 10)
    now = timezone.now()
    wallet_updates_push(now=now)
    points_post(member, 10)  # a minute later, another sale
    marked = _card(card.pk).changed_at

    held = wallet_updates_push(now=now + timedelta(minutes=1))
    assert held.cards == 0
    assert _card(card.pk).changed_at == marked  # still waiting, not lost

    later = wallet_updates_push(now=now + timedelta(minutes=5))
    assert later.sent == 1
    assert apns.tokens_pushed() == {phone: 2}


def test_with_pushing_off_nothing_is_sent_but_the_card_is_newer(apns, settings, caplog):
    settings.WALLET_PUSH_ENABLED = False
    member = MemberFactory()
    card = apple_card(member, device_token())
    before = card.updated_at
    points_post(member, 10)

    with caplog.at_level("INFO", logger="loyalty.services.wallet_push"):
        figures = wallet_updates_push()

    assert apns.pushes() == []
    assert (figures.cards, figures.sent, figures.pushing) == (1, 0, False)
    card.refresh_from_db()
    assert card.updated_at > before
    assert card.changed_at is None
    assert "pushing is off" in caplog.text


# --- what APNs answers ------------------------------------------------------------------------


def test_410_deletes_the_registration_and_a_card_without_devices_left_the_wallet(apns):
    member, other = MemberFactory(), MemberFactory()
    gone, kept = device_token(), device_token()
    card = apple_card(member, gone)
    still = apple_card(other, gone, kept)
    apns.answers[gone] = (410, "Unregistered")
    points_post(member, 10)
    points_post(other, 10)

    figures = wallet_updates_push()

    assert (figures.sent, figures.failed, figures.retried) == (1, 1, 0)
    assert not WalletDeviceRegistration.objects.filter(push_token=gone).exists()
    assert list(WalletDeviceRegistration.objects.values_list("push_token", flat=True)) == [kept]
    card.refresh_from_db()
    still.refresh_from_db()
    assert (card.installed, still.installed) == (False, True)
    assert Touchpoint.objects.filter(member=member, kind="wallet_removed").count() == 1
    assert _card(card.pk).changed_at is None  # not retried: the device is gone


def test_400_bad_device_token_deletes_the_registration(apns):
    member = MemberFactory()
    bad = device_token()
    apple_card(member, bad)
    apns.answers[bad] = (400, "BadDeviceToken")
    points_post(member, 10)

    wallet_updates_push()

    assert not WalletDeviceRegistration.objects.exists()


@pytest.mark.parametrize(
    ("status", "reason"), [(500, "InternalServerError"), (429, "TooManyRequests")]
)
def test_a_busy_or_failing_apns_retries_the_card_next_run(apns, status, reason):
    member = MemberFactory()
    phone = device_token()
    card = apple_card(member, phone)
    points_post(member, 10)
    marked = _card(card.pk).changed_at
    apns.answers[phone] = (status, reason)

    first = wallet_updates_push()

    assert (first.sent, first.retried) == (0, 1)
    assert _card(card.pk).changed_at == marked
    assert len(apns.pushes()) == 1  # asked once this run, not again and again
    del apns.answers[phone]
    second = wallet_updates_push()
    assert second.sent == 1
    assert apns.tokens_pushed() == {phone: 1}
    assert WalletDeviceRegistration.objects.count() == 1


def test_apns_down_retries_next_run(apns, settings):
    member = MemberFactory()
    card = apple_card(member, device_token())
    points_post(member, 10)
    apns.stop()

    figures = wallet_updates_push()

    assert (figures.sent, figures.retried) == (0, 1)
    assert _card(card.pk).changed_at is not None


def test_another_error_is_counted_with_apns_reason(apns, settings):
    member = MemberFactory()
    apple_card(member, device_token())
    points_post(member, 10)
    settings.APPLE_WALLET_PASS_TYPE_ID = "pass.someone.else"

    figures = wallet_updates_push()

    assert (figures.sent, figures.failed, figures.retried) == (0, 1, 0)
    assert "400 TopicDisallowed" in figures.errors
    assert WalletDeviceRegistration.objects.count() == 1


def test_an_updater_that_fails_leaves_the_cards_for_the_next_run(apns, settings, tmp_path):
    member = MemberFactory()
    card = apple_card(member, device_token())
    points_post(member, 10)
    key = settings.APNS_KEY
    settings.APNS_KEY = str(tmp_path / "missing.p8")

    failed = wallet_updates_push()

    assert (failed.sent, failed.retried) == (0, 1)
    assert _card(card.pk).changed_at is not None
    settings.APNS_KEY = key
    assert wallet_updates_push().sent == 1


# --- the provider token -----------------------------------------------------------------------


def test_the_provider_token_verifies_and_is_reused(apns):
    members = [MemberFactory() for _ in range(3)]
    for member in members:
        apple_card(member, device_token())
        points_post(member, 10)
    wallet_updates_push()
    points_post(members[0], 10)
    wallet_updates_push(now=timezone.now() + timedelta(minutes=6))

    bearers = {push.bearer for push in apns.pushes(ok_only=True)}
    assert len(apns.pushes(ok_only=True)) == 4
    assert len(bearers) == 1
    token = bearers.pop()
    assert jwt.get_unverified_header(token) == {
        "alg": "ES256",
        "kid": apns.key.key_id,
        "typ": "JWT",
    }
    claims = jwt.decode(token, apns.key.public_key_pem, algorithms=["ES256"])
    assert claims["iss"] == apns.key.team_id
    assert abs(claims["iat"] - timezone.now().timestamp()) < 60


def test_a_token_signed_with_another_key_is_refused(apns, settings, tmp_path):
    (tmp_path / "other").mkdir()
    settings.APNS_KEY = str(apns_key_write(tmp_path / "other").path)
    member = MemberFactory()
    apple_card(member, device_token())
    points_post(member, 10)

    figures = wallet_updates_push()

    assert (figures.sent, figures.failed) == (0, 1)
    assert figures.errors == ["403 InvalidProviderToken"]


def test_an_expired_provider_token_is_renewed_once(apns):
    members = [MemberFactory() for _ in range(3)]
    for member in members:
        apple_card(member, device_token())
    points_post(members[0], 10)
    wallet_updates_push()
    apns.expire_tokens()
    for member in members:
        points_post(member, 10)

    figures = wallet_updates_push(now=timezone.now() + timedelta(minutes=6))

    assert (figures.sent, figures.failed) == (3, 0)
    refused = [p for p in apns.pushes() if p.status == 403]
    assert {p.reason for p in refused} == {"ExpiredProviderToken"}
    assert len({p.bearer for p in apns.pushes(ok_only=True)}) == 2  # the old one, one new one


# --- tiers, the task and the schedule ---------------------------------------------------------


def test_a_tier_move_marks_the_card(apns):
    member = MemberFactory()
    card = apple_card(member, device_token())
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    tiers_evaluate(account_ids=[account_id], trigger=TierChange.Reason.ORDER)
    WalletPass.objects.update(changed_at=None)
    OrderFactory(member=member, amount_twd=80_000, placed_at=timezone.now())

    tiers_evaluate(account_ids=[account_id], trigger=TierChange.Reason.ORDER)

    assert TierChange.objects.filter(account_id=account_id).exists()
    assert _card(card.pk).changed_at is not None
    assert wallet_updates_push().sent == 1


def test_the_task_runs_the_job_and_beat_runs_it_every_minute(apns):
    member = MemberFactory()
    apple_card(member, device_token())
    points_post(member, 10)

    assert wallet_updates_push_task() == {"cards": 1, "sent": 1, "failed": 0, "retried": 0}
    job = next(job for job in SCHEDULE if job.task == "loyalty.tasks.wallet_updates_push_task")
    assert (job.minute, job.hour) == ("*", "*")


@pytest.mark.django_db(transaction=True)  # inside a loop Django reads on its own connection
def test_the_updater_works_from_a_thread_that_runs_an_event_loop(apns):
    """A worker thread may already run an event loop (Playwright's sync API in the tests, an
    async view, gevent): the APNs sender must not call asyncio.run() in it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from loyalty.wallet.apns import apns_update

    member = MemberFactory()
    phone = device_token()
    card = apple_card(member, phone)

    async def inside_a_loop():
        return apns_update([card.pk])

    # In a thread of its own: the test's thread may run a loop already (a browser test's).
    with ThreadPoolExecutor(max_workers=1) as pool:
        outcome = pool.submit(asyncio.run, inside_a_loop()).result()

    assert outcome.sent == 1
    assert apns.tokens_pushed() == {phone: 1}


def test_each_batch_is_stamped_when_it_is_claimed(apns):
    """Apple's tag is the card's updated_at: a card claimed in a later batch must carry a later
    time than the cards a device may already have listed from an earlier batch."""
    first, second = MemberFactory(), MemberFactory()
    cards = [apple_card(first, device_token()), apple_card(second, device_token())]
    points_post(first, 10)
    points_post(second, 10)

    wallet_updates_push(batch_size=1)

    stamps = sorted(_card(card.pk).updated_at for card in cards)
    assert stamps[0] < stamps[1]
