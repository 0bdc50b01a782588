"""Google's updater: changed cards' loyalty objects patched through the Wallet REST API (the
local Google), once per card however many changes, inserted when Google has none, retried when
Google is busy, with a new access token when Google refuses the old one."""

import pytest

from loyalty.models import WalletPass
from loyalty.services.wallet import wallet_passes_touch
from loyalty.wallet.google import class_id, object_id
from loyalty.wallet.google_updater import google_wallet_update
from loyalty.wallet.updaters import WALLET_UPDATERS
from tests.loyalty.google_wallet_helpers import google_pass, member_with_points, points_add

pytestmark = pytest.mark.django_db


def _changed_ids() -> list[int]:
    """What the push job claims: the cards with a pending change."""
    return list(
        WalletPass.objects.filter(changed_at__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def test_a_card_never_saved_is_neither_patched_nor_created_at_google(google_wallet):
    never_saved = google_pass(member_with_points(100))

    outcome = google_wallet_update([never_saved.pk])

    assert (outcome.sent, outcome.failed, outcome.retry_pass_ids) == (0, 0, [])
    assert not google_wallet.calls("PATCH", "loyaltyObject")
    assert not google_wallet.calls("POST", "loyaltyObject")


def test_the_updater_is_registered_for_google():
    updater = WALLET_UPDATERS.get(WalletPass.Platform.GOOGLE)
    assert updater is not None and updater.update is google_wallet_update


def test_several_changes_are_one_patch_per_card_with_the_latest_balance(google_wallet):
    # given three members whose cards Google already holds
    members = [member_with_points(100) for _ in range(3)]
    passes = [google_pass(m, saved=True) for m in members]
    first = google_wallet_update([p.pk for p in passes])
    assert first.sent == 3
    google_wallet.requests.clear()
    # when their points move three times before the push
    for round_ in range(3):
        for member in members:
            points_add(member, 10, key=f"{member.member_no}-{round_}")
        wallet_passes_touch(member_ids=[m.pk for m in members])
    outcome = google_wallet_update(_changed_ids())
    # then each object is patched once, with 130 points
    assert (outcome.sent, outcome.failed, outcome.retry_pass_ids) == (3, 0, [])
    patches = google_wallet.calls("PATCH", "loyaltyObject")
    assert sorted(r.json()["id"] for r in patches) == sorted(object_id(p.serial) for p in passes)
    for wallet_pass in passes:
        stored = google_wallet.objects[object_id(wallet_pass.serial)]
        assert stored["loyaltyPoints"]["balance"] == {"int": 130}
    assert not google_wallet.calls("POST", "loyaltyObject")
    assert len([r for r in google_wallet.requests if r.path == "/token"]) == 0  # token kept


def test_objects_google_lacks_are_inserted_and_the_class_once(google_wallet):
    passes = [google_pass(member_with_points(7, tier_rank=2), saved=True) for _ in range(3)]

    outcome = google_wallet_update([p.pk for p in passes])

    assert outcome.sent == 3
    assert len(google_wallet.calls("PATCH", "loyaltyObject")) == 3  # each answered 404 first
    assert len(google_wallet.calls("POST", "loyaltyObject")) == 3
    assert len(google_wallet.calls("POST", "loyaltyClass")) == 1
    assert class_id() in google_wallet.classes
    stored = google_wallet.objects[object_id(passes[0].serial)]
    assert stored["classId"] == class_id()
    assert stored["state"] == "ACTIVE"
    assert stored["secondaryLoyaltyPoints"]["balance"]["string"]
    # The request carried the bearer token the local token endpoint issued for the key.
    assert (
        google_wallet.calls("PATCH", "loyaltyObject")[0]
        .headers["authorization"]
        .startswith("Bearer ya29.local-")
    )


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_google_leaves_the_card_for_the_next_run(google_wallet, settings, status):
    settings.GOOGLE_WALLET_CONCURRENCY = 1
    wallet_pass = google_pass(member_with_points(5), saved=True)
    google_wallet.fail_next(status)

    outcome = google_wallet_update([wallet_pass.pk])

    assert (outcome.sent, outcome.failed, outcome.retry_pass_ids) == (0, 0, [wallet_pass.pk])
    assert str(status) in outcome.errors[0]
    again = google_wallet_update(outcome.retry_pass_ids)
    assert (again.sent, again.retry_pass_ids) == (1, [])
    assert object_id(wallet_pass.serial) in google_wallet.objects


def test_a_refused_token_is_refreshed_once(google_wallet):
    wallet_pass = google_pass(member_with_points(5), saved=True)
    assert google_wallet_update([wallet_pass.pk]).sent == 1
    tokens_before = len([r for r in google_wallet.requests if r.path == "/token"])
    google_wallet.revoke_tokens()

    outcome = google_wallet_update([wallet_pass.pk])

    assert outcome.sent == 1
    assert len([r for r in google_wallet.requests if r.path == "/token"]) == tokens_before + 1
    assert [r.status for r in google_wallet.calls("PATCH", "loyaltyObject")][-2:] == [401, 200]


def test_a_rejected_object_is_a_failure_not_a_retry(google_wallet, settings):
    settings.GOOGLE_WALLET_CONCURRENCY = 1
    wallet_pass = google_pass(member_with_points(5), saved=True)
    google_wallet.fail_next(400)

    outcome = google_wallet_update([wallet_pass.pk])

    assert (outcome.sent, outcome.failed, outcome.retry_pass_ids) == (0, 1, [])
    assert "400" in outcome.errors[0]


def test_apple_cards_and_unknown_ids_are_left_alone(google_wallet):
    member = member_with_points(5)
    apple = WalletPass.objects.create(
        member=member,
        platform=WalletPass.Platform.APPLE,
        serial="apple-1",
        authentication_token="t",
    )
    outcome = google_wallet_update([apple.pk, 999_999])
    assert (outcome.sent, outcome.failed, outcome.retry_pass_ids) == (0, 0, [])
    assert not google_wallet.requests


def test_an_erased_members_card_is_blanked_and_deactivated_at_google(
    google_wallet, alice, monkeypatch, django_capture_on_commit_callbacks
):
    from crm.services.erasure import member_forget
    from omnichannel.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    member = member_with_points(100)
    card = google_pass(member, saved=True)
    assert google_wallet_update([card.pk]).sent == 1
    stored = google_wallet.objects[object_id(card.serial)]
    assert stored["state"] == "ACTIVE" and stored["accountName"]

    with django_capture_on_commit_callbacks(execute=True):
        member_forget(member=member, actor=alice, reason="PDPA request")

    stored = google_wallet.objects[object_id(card.serial)]
    assert stored["state"] == "INACTIVE"
    assert (stored["accountName"], stored["accountId"]) == ("", "")
    assert stored["barcode"]["value"] == "-"
    assert not WalletPass.objects.filter(pk=card.pk).exists()
