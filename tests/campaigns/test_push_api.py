"""/api/v1/push/subscriptions: the web shop registers and removes a member's browser Web Push
subscription, with the API's keys, idempotency and error shapes; then campaigns reach it."""

import json

import pytest
from django.test import Client

from campaigns.models import WebPushSubscription
from campaigns.reachability import addresses_for
from campaigns.services.push_addresses import (
    ERROR_AUTH,
    ERROR_P256DH,
    webpush_subscription_delete,
    webpush_subscription_save,
)
from crm.services.api_keys import api_key_create
from tests.campaigns.servers.webpush import WebPushServer
from tests.factories import MemberFactory

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
