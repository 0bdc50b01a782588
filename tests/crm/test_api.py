"""The ingest API /api/v1/: keys, members, orders, returns, events, idempotency, limits, docs."""

import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import ApiKey, Consent, IdempotencyRecord, Identity, Member, Order, Touchpoint
from crm.services import member_forget
from crm.services.api_keys import (
    ERROR_IDEMPOTENCY_REUSED,
    ERROR_REVOKED,
    api_key_create,
    api_key_hash,
    api_key_revoke,
)
from crm.services.ingest import ERROR_CHANNEL, ERROR_IS_A_SALE, ERROR_MASKED, ERROR_STORE_REQUIRED
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

PHONE = "0912-345-678"
PHONE_E164 = "+886912345678"
SALE = {
    "channel": "store",
    "external_no": "TPE01-20250312-0042",
    "amount_twd": 1280,
    "placed_at": "2025-03-12T14:05:33+08:00",
    "store_code": "TPE01",
}


@pytest.fixture
def make_key(alice):
    def _make(channel: str = "store", name: str | None = None) -> str:
        _api_key, key = api_key_create(
            name=name or f"{channel} system", channel=channel, actor=alice
        )
        return key

    return _make


@pytest.fixture
def post():
    client = Client()

    def _post(path: str, body, key: str | None, **headers):
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return client.post(
            f"/api/v1/{path}", data=data, content_type="application/json", headers=headers
        )

    return _post


def _errors(response) -> dict[tuple, str]:
    """{loc: msg} of a 422."""
    assert response.status_code == 422, response.content
    return {tuple(item["loc"]): item["msg"] for item in response.json()["detail"]}


# --- Keys --------------------------------------------------------------------------------------


def test_key_is_stored_only_as_its_hash(alice):
    api_key, key = api_key_create(name="POS", channel="store", actor=alice)

    assert api_key.secret_hash == api_key_hash(key) != key
    assert api_key.prefix == key[:8]
    assert not ApiKey.objects.filter(secret_hash=key).exists()


def test_missing_key_is_401(post):
    response = post("orders", SALE, key=None)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert not Order.objects.exists()


def test_unknown_key_is_401(post):
    response = post("orders", SALE, key="not-a-key-we-made")

    assert response.status_code == 401


def test_revoked_key_is_403_with_the_reason(post, make_key, alice):
    key = make_key("store")
    api_key_revoke(api_key=ApiKey.objects.get(), actor=alice)

    response = post("orders", SALE, key=key)

    assert response.status_code == 403
    assert str(ERROR_REVOKED).split("%")[0] in response.json()["detail"]  # in the user's language
    assert not Order.objects.exists()


def test_key_writing_another_channel_is_403_naming_it(post, make_key):
    key = make_key("store")

    response = post("orders", {**SALE, "channel": "web", "store_code": None}, key=key)

    assert response.status_code == 403
    assert response.json()["detail"] == ERROR_CHANNEL % {"own": "store", "channel": "web"}
    assert not Order.objects.exists()


def test_key_use_is_noted(post, make_key):
    key = make_key("store")

    post("orders", SALE, key=key)

    assert ApiKey.objects.get().last_used_at is not None


# --- Members -----------------------------------------------------------------------------------


def test_member_upsert_creates_then_attaches_same_phone_in_another_spelling(post, make_key):
    key = make_key("web")

    first = post("members", {"identifiers": {"phone": PHONE}, "profile": {"name": "陳美玲"}}, key)
    again = post(
        "members",
        {"identifiers": {"phone": "+886 912 345 678", "email": " Mei@Example.com "}},
        key,
    )

    assert first.status_code == 201
    assert first.json()["created"] is True
    assert again.status_code == 200
    assert again.json() == {"member_no": first.json()["member_no"], "created": False, "merged": []}
    member = Member.objects.get()
    assert member.name == "陳美玲"
    assert member.acquisition_channel == "web"
    assert set(member.identities.values_list("kind", "value")) == {
        ("phone", PHONE_E164),
        ("email", "mei@example.com"),
    }


def test_member_upsert_merges_the_members_its_identifiers_name(post, make_key):
    key = make_key("store")
    older = post("members", {"identifiers": {"phone": PHONE}}, key).json()["member_no"]
    newer = post("members", {"identifiers": {"pos_card": "a00012345"}}, key).json()["member_no"]

    response = post("members", {"identifiers": {"phone": PHONE, "pos_card": "A00012345"}}, key)

    assert response.json() == {"member_no": older, "created": False, "merged": [newer]}
    assert Member.objects.get(member_no=newer).status == Member.Status.MERGED


def test_member_upsert_keeps_the_brands_member_number(post, make_key):
    response = post("members", {"identifiers": {"member_no": " m000123 "}}, make_key("app"))

    assert response.status_code == 201
    assert response.json()["member_no"] == "M000123"


def test_member_upsert_records_consent_decisions_once(post, make_key):
    key = make_key("store", name="POS signup")
    body = {"identifiers": {"phone": PHONE}, "consents": {"email": True, "sms": False}}

    post("members", body, key)
    post("members", body, key)

    assert set(Consent.objects.values_list("channel", "state", "source")) == {
        ("email", "opted_in", "api:POS signup"),
        ("sms", "opted_out", "api:POS signup"),
    }


def test_member_upsert_needs_an_identifier(post, make_key):
    response = post("members", {"identifiers": {"phone": "  "}}, make_key())

    assert ("body", "identifiers") in _errors(response)


def test_member_number_of_an_erased_member_is_refused(post, make_key, alice):
    member = MemberFactory(member_no="M000777")
    member_forget(member=member, actor=alice, reason="PDPA request #12")

    response = post(
        "members", {"identifiers": {"member_no": "M000777", "phone": PHONE}}, make_key()
    )

    assert ("body", "identifiers", "member_no") in _errors(response)
    assert not Identity.objects.exists()


# --- Orders and returns ------------------------------------------------------------------------


def test_order_with_identifiers_lands_on_their_member(post, make_key):
    member = MemberFactory()
    Identity.objects.create(member=member, kind="pos_card", value="A00012345")

    response = post(
        "orders", {**SALE, "identifiers": {"pos_card": "a00012345", "phone": PHONE}}, make_key()
    )

    assert response.status_code == 201
    assert response.json() == {
        "channel": "store",
        "external_no": SALE["external_no"],
        "created": True,
        "member_no": member.member_no,
        "member_created": False,
        "merged": [],
    }
    order = Order.objects.get()
    assert order.member == member
    assert order.amount_twd == 1280
    assert order.store.code == "TPE01"
    assert member.identities.filter(kind="phone", value=PHONE_E164).exists()


def test_order_without_identifiers_is_anonymous(post, make_key):
    response = post("orders", SALE, make_key())

    assert response.status_code == 201
    assert response.json()["member_no"] is None
    assert Order.objects.get().member is None
    assert not Member.objects.exists()


def test_order_sent_again_with_a_new_status_is_updated(post, make_key):
    key = make_key("web")
    web_order = {
        "channel": "web",
        "external_no": "W2025031200017",
        "amount_twd": 2490,
        "placed_at": "2025-03-12T21:14:09+08:00",
    }
    post("orders", web_order, key)

    response = post("orders", {**web_order, "status": "cancelled"}, key)

    assert response.status_code == 200
    assert response.json()["created"] is False
    assert Order.objects.get().status == Order.Status.CANCELLED


def test_return_links_to_its_sale_and_a_full_return_marks_both_returned(post, make_key):
    key = make_key("store")
    post("orders", SALE, key)

    response = post(
        "returns",
        {
            "external_no": "TPE01-20250320-0101",
            "returns_external_no": SALE["external_no"],
            "amount_twd": -1280,
            "placed_at": "2025-03-20T16:42:10+08:00",
            "store_code": "TPE01",
        },
        key,
    )

    assert response.status_code == 201
    assert response.json()["sale_linked"] is True
    sale = Order.objects.get(external_no=SALE["external_no"])
    refund = Order.objects.get(external_no="TPE01-20250320-0101")
    assert refund.returns_order == sale
    assert {sale.status, refund.status} == {Order.Status.RETURNED}


def test_return_before_its_sale_is_linked_when_the_sale_arrives(post, make_key):
    key = make_key("store")
    refund = {
        "external_no": "R1",
        "returns_external_no": "S1",
        "amount_twd": -100,
        "placed_at": "2025-03-20T16:42:10+08:00",
        "store_code": "TPE01",
    }

    first = post("returns", refund, key)
    post("orders", {**SALE, "external_no": "S1", "amount_twd": 300}, key)

    assert first.json()["sale_linked"] is False
    assert Order.objects.get(external_no="R1").returns_order.external_no == "S1"


def test_return_cannot_overwrite_a_sale(post, make_key):
    key = make_key("store")
    post("orders", SALE, key)

    response = post(
        "returns",
        {
            "external_no": SALE["external_no"],
            "returns_external_no": "X",
            "amount_twd": -1,
            "placed_at": "2025-03-20T16:42:10+08:00",
            "store_code": "TPE01",
        },
        key,
    )

    assert _errors(response)[("body", "external_no")] == ERROR_IS_A_SALE % {
        "no": SALE["external_no"],
        "channel": "store",
    }
    assert Order.objects.get().amount_twd == 1280


# --- Events ------------------------------------------------------------------------------------


def test_event_is_recorded_on_the_member(post, make_key):
    line_id = "U4af4980629e06f7f64a1a0f1e5ad1b3c"
    key = make_key("line")
    member_no = post("members", {"identifiers": {"line_user_id": line_id}}, key).json()["member_no"]

    response = post(
        "events",
        {
            "identifiers": {"line_user_id": line_id},
            "channel": "line",
            "kind": "line_follow",
            "at": "2025-03-12T14:05:33+08:00",
            "properties": {"friend_flag": True},
        },
        key,
    )

    assert response.status_code == 201
    touchpoint = Touchpoint.objects.get()
    assert response.json() == {
        "touchpoint_id": touchpoint.pk,
        "member_no": member_no,
        "member_created": False,
        "merged": [],
    }
    assert (touchpoint.channel, touchpoint.kind) == ("line", "line_follow")
    assert touchpoint.properties == {"friend_flag": True}
    assert touchpoint.member.member_no == member_no


def test_event_needs_an_identifier(post, make_key):
    response = post(
        "events",
        {"identifiers": {}, "channel": "store", "kind": "store_visit", "at": SALE["placed_at"]},
        make_key(),
    )

    assert ("body", "identifiers") in _errors(response)
    assert not Touchpoint.objects.exists()


# --- Idempotency -------------------------------------------------------------------------------


def test_same_idempotency_key_twice_writes_once_and_answers_the_same(post, make_key):
    key = make_key()
    body = {**SALE, "identifiers": {"phone": PHONE}}

    first = post("orders", body, key, **{"Idempotency-Key": "a1"})
    again = post("orders", body, key, **{"Idempotency-Key": "a1"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert Member.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_422(post, make_key):
    key = make_key()
    post("orders", SALE, key, **{"Idempotency-Key": "a1"})

    response = post("orders", {**SALE, "amount_twd": 999}, key, **{"Idempotency-Key": "a1"})

    assert _errors(response) == {("header", "Idempotency-Key"): str(ERROR_IDEMPOTENCY_REUSED)}
    assert Order.objects.get().amount_twd == 1280


def test_idempotency_keys_belong_to_their_api_key(post, make_key):
    first = post("orders", SALE, make_key(name="till 1"), **{"Idempotency-Key": "a1"})
    other = post(
        "orders",
        {**SALE, "external_no": "N2"},
        make_key(name="till 2"),
        **{"Idempotency-Key": "a1"},
    )

    assert first.status_code == other.status_code == 201
    assert Order.objects.count() == 2


def test_idempotency_key_is_free_again_after_24_hours(post, make_key):
    key = make_key()
    post("orders", SALE, key, **{"Idempotency-Key": "a1"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))

    response = post("orders", {**SALE, "amount_twd": 999}, key, **{"Idempotency-Key": "a1"})

    assert response.status_code == 200
    assert Order.objects.get().amount_twd == 999


def test_failed_call_does_not_use_up_its_idempotency_key(post, make_key):
    key = make_key()
    post("orders", {**SALE, "store_code": ""}, key, **{"Idempotency-Key": "a1"})

    response = post("orders", SALE, key, **{"Idempotency-Key": "a1"})

    assert response.status_code == 201


# --- Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1,280", 12.5, True, None])
def test_amount_that_is_not_a_whole_number_names_the_field(post, make_key, amount):
    response = post("orders", {**SALE, "amount_twd": amount}, make_key())

    assert ("body", "amount_twd") in _errors(response)


def test_negative_sale_amount_names_the_field(post, make_key):
    response = post("orders", {**SALE, "amount_twd": -5}, make_key())

    assert ("body", "amount_twd") in _errors(response)


def test_naive_time_names_the_field(post, make_key):
    response = post("orders", {**SALE, "placed_at": "2025-03-12T14:05:33"}, make_key())

    assert ("body", "placed_at") in _errors(response)


def test_invalid_phone_names_the_field(post, make_key):
    response = post("members", {"identifiers": {"phone": "12"}}, make_key())

    assert ("body", "identifiers", "phone") in _errors(response)
    assert not Member.objects.exists()


def test_masked_phone_names_the_field(post, make_key):
    response = post("orders", {**SALE, "identifiers": {"phone": "09******78"}}, make_key())

    assert _errors(response)[("body", "identifiers", "phone")] == ERROR_MASKED
    assert not Order.objects.exists()


def test_store_order_needs_its_store_code(post, make_key):
    response = post("orders", {**SALE, "store_code": " "}, make_key())

    assert _errors(response)[("body", "store_code")] == ERROR_STORE_REQUIRED


def test_unknown_field_is_refused(post, make_key):
    response = post("orders", {**SALE, "amount": 1280}, make_key())

    assert ("body", "amount") in _errors(response)


def test_nul_character_is_refused_by_name(post, make_key):
    body = {**SALE, "external_no": "A\x00B", "identifiers": {"phone": PHONE}}

    response = post("orders", body, make_key())

    assert ("body", "external_no") in _errors(response)


def test_event_properties_with_nul_are_refused(post, make_key):
    body = {
        "identifiers": {"phone": PHONE},
        "channel": "store",
        "kind": "store_visit",
        "at": SALE["placed_at"],
        "properties": {"note": ["ok", {"x": "\x00"}]},
    }

    response = post("events", body, make_key())

    assert ("body", "properties") in _errors(response)


@pytest.mark.parametrize("placed_at", ["2000-01-10T00:05:01+18:22", "1850-01-01T00:00:00+08:00"])
def test_time_out_of_range_names_the_field(post, make_key, placed_at):
    response = post("orders", {**SALE, "placed_at": placed_at}, make_key())

    assert ("body", "placed_at") in _errors(response)


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"amount_twd": NaN}', "1e999"])
def test_body_that_is_no_json_object_is_400(post, make_key, body):
    response = post("orders", body, make_key())

    assert response.status_code == 400


def test_body_over_the_limit_is_413(post, make_key, settings):
    settings.API_MAX_BODY_BYTES = 300
    body = {**SALE, "identifiers": {"web_customer_id": "x" * 250}}

    response = post("orders", body, make_key())

    assert response.status_code == 413
    assert "300" in response.json()["detail"]
    assert not Order.objects.exists()


def test_calls_past_the_rate_limit_are_429_with_retry_after(post, make_key, settings, monkeypatch):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    # Thirty seconds into a minute, all three calls in the same window.
    monkeypatch.setattr("omnichannel.ratelimit.time", SimpleNamespace(time=lambda: 1_800_000_030.0))
    key = make_key()

    statuses = [post("orders", SALE, key).status_code for _ in range(3)]
    response = post("orders", SALE, key)

    assert statuses == [201, 200, 429]
    assert response.status_code == 429
    assert response["Retry-After"] == "30"


def test_rate_limit_counts_each_key_apart(post, make_key, settings, monkeypatch):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    monkeypatch.setattr("omnichannel.ratelimit.time", SimpleNamespace(time=lambda: 1_800_000_030.0))

    first = post("orders", SALE, make_key(name="till 1"))
    second = post("orders", SALE, make_key(name="till 2"))

    assert (first.status_code, second.status_code) == (201, 200)


# --- Documentation -----------------------------------------------------------------------------


def test_openapi_document_lists_the_four_operations(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/members", "/api/v1/orders", "/api/v1/returns", "/api/v1/events"} <= set(paths)
    assert response.json()["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"


def test_docs_page_loads_nothing_from_other_sites(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls
    assert all(url.startswith("/static/") for url in urls), urls
    assert "//" not in "".join(urls)
    assert '"validatorUrl": null' in html
    assert all(client.get(url).status_code == 200 for url in urls)


# --- Admin -------------------------------------------------------------------------------------


def test_admin_shows_a_new_key_once(login_as):
    client = login_as("alice")

    response = client.post(
        reverse("admin:crm_apikey_add"),
        {"name": "Shopee sync", "channel": "marketplace", "scopes": ["ingest"]},
        follow=True,
    )

    api_key = ApiKey.objects.get()
    shown = [str(m) for m in response.context["messages"] if "Shopee sync" in str(m)]
    key = re.split(r"[:：] ?", shown[0])[-1]  # after the colon, half- or full-width
    assert key in response.content.decode()
    assert api_key_hash(key) == api_key.secret_hash
    assert api_key.created_by.username == "alice"
    assert key not in client.get(reverse("admin:crm_apikey_changelist")).content.decode()


def test_admin_revokes_keys(login_as, make_key):
    make_key()
    client = login_as("alice")

    client.post(
        reverse("admin:crm_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [ApiKey.objects.get().pk]},
    )

    api_key = ApiKey.objects.get()
    assert api_key.revoked_at is not None
    assert api_key.revoked_by.username == "alice"
