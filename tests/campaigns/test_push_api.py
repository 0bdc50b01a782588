"""/api/v1/push/subscriptions: the web shop registers and removes a member's browser Web Push
subscription, with the API's keys, idempotency and error shapes; then campaigns reach it.
/api/v1/push/tokens: the same for the app's FCM registration tokens (crm identities)."""

import json

import pytest
from django.test import Client

from campaigns.models import Delivery, SendBatch, WebPushSubscription
from campaigns.reachability import addresses_for
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.push_addresses import (
    ERROR_AUTH,
    ERROR_P256DH,
    webpush_subscription_delete,
    webpush_subscription_save,
)
from crm.models import Consent, Identity, Segment
from crm.segments.definition import EMPTY_DEFINITION
from crm.services.api_keys import api_key_create
from crm.services.push_tokens import ERROR_MEMBER_INACTIVE, member_push_token_attach
from tests.campaigns.servers.webpush import WebPushServer
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

PATH = "/api/v1/push/subscriptions"


@pytest.fixture
def key(alice) -> str:
    return api_key_create(name="web shop", channel="web", actor=alice)[1]


@pytest.fixture
def browser():
    """A subscription as a browser makes one (keys a message can really be encrypted to), at
    an https push service as every browser's is."""
    subscription = WebPushServer(port=1).subscribe()
    return {**subscription.json(), "endpoint": f"https://push.example.com/w/{subscription.id}"}


def _post(body, key, **headers):
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post(
        PATH,
        data=data,
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def _delete(endpoint, key):
    return Client().delete(
        PATH, query_params={"endpoint": endpoint}, headers={"Authorization": f"Bearer {key}"}
    )


def _errors(response) -> dict[tuple, str]:
    assert response.status_code == 422, response.content
    return {tuple(item["loc"]): item["msg"] for item in response.json()["detail"]}


def test_register_stores_the_subscription_and_the_member_becomes_reachable(key, browser):
    member = MemberFactory()

    response = _post({"member_no": member.member_no, "subscription": browser}, key)

    assert response.status_code == 201
    assert response.json() == {
        "member_no": member.member_no,
        "endpoint": browser["endpoint"],
        "created": True,
    }
    address = addresses_for(channel="push", member_ids=[member.pk])[member.pk]
    assert address.value == browser["endpoint"]
    assert address.extra == {"transport": "webpush", **browser["keys"]}


def test_registering_the_same_endpoint_again_updates_it(key, browser):
    first, second = MemberFactory(), MemberFactory()
    _post({"member_no": first.member_no, "subscription": browser}, key)

    response = _post({"member_no": second.member_no, "subscription": browser}, key)

    assert (response.status_code, response.json()["created"]) == (200, False)
    (row,) = WebPushSubscription.objects.all()
    assert row.member_id == second.pk  # a shared browser now signed in as someone else


def test_an_idempotent_retry_gets_the_first_answer(key, browser):
    member = MemberFactory()
    body = {"member_no": member.member_no, "subscription": browser}

    first = _post(body, key, **{"Idempotency-Key": "sub-1"})
    again = _post(body, key, **{"Idempotency-Key": "sub-1"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert WebPushSubscription.objects.count() == 1


def test_a_merged_member_number_registers_on_the_survivor(key, browser):
    survivor = MemberFactory()
    merged = MemberFactory(status="merged", merged_into=survivor)

    response = _post({"member_no": merged.member_no, "subscription": browser}, key)

    assert response.json()["member_no"] == survivor.member_no
    assert WebPushSubscription.objects.get().member_id == survivor.pk


def test_an_unknown_or_erased_member_is_a_422(key, browser):
    erased = MemberFactory(status="erased")
    for member_no in ("M404", erased.member_no):
        errors = _errors(_post({"member_no": member_no, "subscription": browser}, key))
        assert errors == {("body", "member_no"): "no active member has this number"}
    assert not WebPushSubscription.objects.exists()


def test_keys_no_message_could_be_encrypted_to_are_refused_with_the_reason(key, browser):
    member = MemberFactory()
    bad = {**browser, "keys": {"p256dh": "QUJD", "auth": "c2hvcnQ"}}

    errors = _errors(_post({"member_no": member.member_no, "subscription": bad}, key))

    assert errors == {
        ("body", "subscription", "keys", "p256dh"): str(ERROR_P256DH),
        ("body", "subscription", "keys", "auth"): str(ERROR_AUTH),
    }


def test_an_endpoint_that_is_not_https_is_refused(key, browser):
    member = MemberFactory()
    bad = {**browser, "endpoint": "http://push.example/abc"}

    errors = _errors(_post({"member_no": member.member_no, "subscription": bad}, key))

    assert list(errors) == [("body", "subscription", "endpoint")]


@pytest.mark.parametrize(
    "body",
    [
        {"member_no": "M1"},
        {"member_no": "M1", "subscription": {"endpoint": "https://x/1"}},
        {"member_no": "M1", "subscription": {"endpoint": "https://x/1", "keys": {}}},
        {"member_no": "", "subscription": {"endpoint": "https://x", "keys": {"p256dh": "a"}}},
        {"member_no": "M1", "subscription": {}, "extra": 1},
    ],
)
def test_malformed_bodies_are_422s(key, body):
    assert _post(body, key).status_code == 422


def test_not_json_is_a_400(key):
    assert _post("not json", key).status_code == 400


def test_no_key_is_a_401(browser):
    response = Client().post(PATH, data={}, content_type="application/json")
    assert response.status_code == 401


def test_delete_removes_the_subscription_and_a_repeat_answers_false(key, browser):
    member = MemberFactory()
    _post({"member_no": member.member_no, "subscription": browser}, key)

    first = _delete(browser["endpoint"], key)
    again = _delete(browser["endpoint"], key)

    assert (first.status_code, first.json()["deleted"]) == (200, True)
    assert (again.status_code, again.json()["deleted"]) == (200, False)
    assert not addresses_for(channel="push", member_ids=[member.pk])


def test_delete_without_an_endpoint_is_a_422(key):
    response = Client().delete(PATH, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 422


def test_the_services_upsert_and_delete_by_endpoint(browser):
    member = MemberFactory()
    keys = browser["keys"]
    saved = webpush_subscription_save(
        member=member, endpoint=browser["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"]
    )
    again = webpush_subscription_save(
        member=member, endpoint=browser["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"]
    )
    assert saved.pk == again.pk
    assert webpush_subscription_delete(endpoint=browser["endpoint"]) is True
    assert webpush_subscription_delete(endpoint=browser["endpoint"]) is False


# --- the app's FCM tokens -----------------------------------------------------------------------

TOKENS = "/api/v1/push/tokens"
# The shape of a real FCM registration token: an instance id, ':', then a long base64url tail.
TOKEN = "cV1nQ8xNRz2Ya3bF9kLmWp:APA91b" + "H-x_7Qz" * 20
OTHER_TOKEN = "eQ2mR7yOSa3Zb4cG0lMnXq:APA91b" + "J-y_8Rw" * 20


@pytest.fixture
def app_key(alice) -> str:
    return api_key_create(name="app", channel="app", actor=alice)[1]


def _register(body, key, **headers):
    return Client().post(
        TOKENS,
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def _unregister(token, key):
    return Client().delete(
        TOKENS, query_params={"token": token}, headers={"Authorization": f"Bearer {key}"}
    )


def _tokens() -> dict[str, int]:
    return dict(
        Identity.objects.filter(kind=Identity.Kind.PUSH_TOKEN).values_list("value", "member_id")
    )


def test_registering_a_token_adds_it_to_the_member_as_their_push_address(app_key):
    member = MemberFactory()

    response = _register(
        {"member_no": member.member_no, "token": TOKEN, "platform": "android"}, app_key
    )

    assert response.status_code == 201, response.content
    assert response.json() == {
        "member_no": member.member_no,
        "token": TOKEN,
        "platform": "android",
        "created": True,
    }
    identity = Identity.objects.get(kind=Identity.Kind.PUSH_TOKEN)
    assert (identity.member_id, identity.value, identity.source) == (member.pk, TOKEN, "app")
    address = addresses_for(channel="push", member_ids=[member.pk])[member.pk]
    assert address.value == TOKEN
    # An address, not consent: no consent is recorded or changed.
    assert not Consent.objects.exists()


def test_registering_the_same_token_again_answers_200_and_keeps_one_row(app_key):
    member = MemberFactory()
    _register({"member_no": member.member_no, "token": TOKEN}, app_key)
    first_seen = Identity.objects.get().last_seen_at

    response = _register({"member_no": member.member_no, "token": TOKEN}, app_key)

    assert (response.status_code, response.json()["created"]) == (200, False)
    (identity,) = Identity.objects.filter(kind=Identity.Kind.PUSH_TOKEN)
    assert identity.last_seen_at >= first_seen


def test_an_idempotent_retry_of_a_token_gets_the_first_answer(app_key):
    member = MemberFactory()
    body = {"member_no": member.member_no, "token": TOKEN}

    first = _register(body, app_key, **{"Idempotency-Key": "tok-1"})
    again = _register(body, app_key, **{"Idempotency-Key": "tok-1"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert _tokens() == {TOKEN: member.pk}


def test_a_token_another_member_held_moves_to_the_newest_registration(app_key):
    seller, buyer = MemberFactory(), MemberFactory()
    IdentityFactory(member=seller, kind=Identity.Kind.PUSH_TOKEN, value=TOKEN)
    IdentityFactory(member=seller, kind=Identity.Kind.PUSH_TOKEN, value=OTHER_TOKEN)

    response = _register({"member_no": buyer.member_no, "token": TOKEN}, app_key)

    assert (response.status_code, response.json()["created"]) == (201, True)
    assert _tokens() == {TOKEN: buyer.pk, OTHER_TOKEN: seller.pk}
    seller.refresh_from_db()
    assert (seller.status, seller.merged_into_id) == ("active", None)  # moved, not merged


def test_a_merged_member_number_registers_the_token_on_the_survivor(app_key):
    survivor = MemberFactory()
    merged = MemberFactory(status="merged", merged_into=survivor)

    response = _register({"member_no": merged.member_no, "token": TOKEN}, app_key)

    assert response.json()["member_no"] == survivor.member_no
    assert _tokens() == {TOKEN: survivor.pk}


def test_an_unknown_or_erased_member_cannot_register_a_token(app_key):
    erased = MemberFactory(status="erased")
    for member_no in ("M404", erased.member_no):
        errors = _errors(_register({"member_no": member_no, "token": TOKEN}, app_key))
        assert errors == {("body", "member_no"): "no active member has this number"}
    assert not _tokens()


@pytest.mark.parametrize(
    "token",
    [
        "short-token",
        TOKEN.replace("H-x", "H/x"),  # '/' is no FCM token character
        TOKEN.replace("H-x", "H x"),
        "A" * 99,
        "A" * 256,
    ],
)
def test_a_malformed_token_is_refused_with_the_reason(app_key, token):
    member = MemberFactory()

    errors = _errors(_register({"member_no": member.member_no, "token": token}, app_key))

    assert list(errors) == [("body", "token")]
    assert not _tokens()


def test_the_token_reason_is_translated(app_key):
    member = MemberFactory()

    response = Client().post(
        TOKENS,
        data=json.dumps({"member_no": member.member_no, "token": "short"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {app_key}", "Accept-Language": "zh-hant"},
    )

    (reason,) = _errors(response).values()
    assert "FCM" in reason and "Not an" not in reason


@pytest.mark.parametrize(
    "body",
    [
        {"member_no": "M1"},
        {"token": TOKEN},
        {"member_no": "M1", "token": TOKEN, "platform": "windows"},
        {"member_no": "M1", "token": TOKEN, "extra": 1},
    ],
)
def test_malformed_token_bodies_are_422s(app_key, body):
    assert _register(body, app_key).status_code == 422


def test_a_key_without_the_ingest_scope_cannot_register_or_remove_tokens(alice):
    member = MemberFactory()
    marketing = api_key_create(name="tool", channel="app", actor=alice, scopes=["campaigns"])[1]

    assert _register({"member_no": member.member_no, "token": TOKEN}, marketing).status_code == 403
    assert _unregister(TOKEN, marketing).status_code == 403
    assert not _tokens()


def test_the_service_refuses_an_inactive_member():
    erased = MemberFactory(status="erased")
    with pytest.raises(ValueError, match=str(ERROR_MEMBER_INACTIVE)):
        member_push_token_attach(member=erased, token=TOKEN, source="app")


def test_delete_removes_the_token_and_a_repeat_answers_false(app_key):
    member = MemberFactory()
    _register({"member_no": member.member_no, "token": TOKEN}, app_key)

    first = _unregister(TOKEN, app_key)
    again = _unregister(TOKEN, app_key)

    assert (first.status_code, first.json()) == (200, {"token": TOKEN, "deleted": True})
    assert (again.status_code, again.json()["deleted"]) == (200, False)
    assert not addresses_for(channel="push", member_ids=[member.pk])


def test_delete_of_a_token_leaves_web_push_subscriptions_alone(app_key, key, browser):
    member = MemberFactory()
    _post({"member_no": member.member_no, "subscription": browser}, key)

    response = _unregister(browser["endpoint"], app_key)

    assert response.status_code == 422  # an endpoint is no token
    assert WebPushSubscription.objects.count() == 1


def test_a_registered_token_receives_a_campaign_push_through_fcm(app_key, fcm_server):
    member = MemberFactory()
    ConsentFactory(member=member, channel="push")  # consent is the member's, recorded apart
    _register({"member_no": member.member_no, "token": TOKEN, "platform": "ios"}, app_key)
    segment = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    campaign = campaign_save(
        name="週年慶",
        segment=segment,
        channels=["push"],
        contents={"push": {"title": "週年慶", "body": "全館 8 折", "url": ""}},
    )
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)

    send_batch_run(batch_id=SendBatch.objects.get(campaign=campaign).pk)

    assert Delivery.objects.get(member=member).status == "sent"
    (send,) = fcm_server.sends()
    assert send.json()["message"]["token"] == TOKEN
