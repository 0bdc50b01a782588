"""Issue 9: the API keeps what its schemas promise: an idempotent retry is the same data
whatever its spacing, dates and times are ISO text (0 is no birthday), and a garbage member
number in a page URL is a 404, not a 500."""

import json

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from crm.api.schemas import ERROR_NOT_A_DATE, ERROR_NOT_A_TIME
from crm.models import Member, Order
from crm.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db

SALE = {
    "channel": "store",
    "external_no": "TPE01-20250312-0042",
    "amount_twd": 1280,
    "placed_at": "2025-03-12T14:05:33+08:00",
    "store_code": "TPE01",
    "identifiers": {"phone": "0912-345-678"},
}


@pytest.fixture
def key(alice) -> str:
    return api_key_create(name="till", channel="store", actor=alice)[1]


def _post(key: str, path: str, body: str, **headers):
    return Client().post(
        f"/api/v1/{path}",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def _errors(response) -> dict[tuple, str]:
    assert response.status_code == 422, response.content
    return {tuple(item["loc"]): item["msg"] for item in response.json()["detail"]}


def test_idempotent_retry_with_other_whitespace_and_key_order_replays(key):
    compact = json.dumps(SALE, separators=(",", ":"))
    pretty = json.dumps(dict(reversed(list(SALE.items()))), indent=2)

    first = _post(key, "orders", compact, **{"Idempotency-Key": "k1"})
    again = _post(key, "orders", pretty, **{"Idempotency-Key": "k1"})

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Order.objects.count() == 1


@pytest.mark.parametrize("birthday", [0, "0", 19900517, 631152000])
def test_a_number_is_no_birthday(key, alice, birthday):
    api_key = api_key_create(name="app", channel="app", actor=alice)[1]
    body = {"identifiers": {"phone": "0912-345-678"}, "profile": {"birthday": birthday}}

    response = _post(api_key, "members", json.dumps(body))

    errors = _errors(response)
    assert any(loc[-1] == "birthday" for loc in errors), errors
    assert any(ERROR_NOT_A_DATE in msg for msg in errors.values())
    assert not Member.objects.exists()


@pytest.mark.parametrize("placed_at", [0, "0", 1741759533, "1741759533"])
def test_a_number_is_no_time(key, placed_at):
    response = _post(key, "orders", json.dumps({**SALE, "placed_at": placed_at}))

    errors = _errors(response)
    assert ("body", "placed_at") in errors
    assert ERROR_NOT_A_TIME in errors[("body", "placed_at")]
    assert not Order.objects.exists()


@pytest.mark.parametrize("field", ["external_no", "store_code"])
def test_a_number_is_no_string(key, field):
    response = _post(key, "orders", json.dumps({**SALE, field: 42}))

    assert ("body", field) in _errors(response)


def test_an_iso_birthday_is_still_a_birthday(alice):
    api_key = api_key_create(name="app", channel="app", actor=alice)[1]
    body = {"identifiers": {"phone": "0912-345-678"}, "profile": {"birthday": "1990-05-17"}}

    response = _post(api_key, "members", json.dumps(body))

    assert response.status_code == 201, response.content
    assert str(Member.objects.get().birthday) == "1990-05-17"


@pytest.mark.parametrize("number", ["\x00", "A\x00B", "\x1f", "\x7f"])
def test_a_member_number_with_control_characters_is_no_member_url(number):
    with pytest.raises(Resolver404):
        resolve(f"/members/{number}/")


@pytest.mark.parametrize(
    "path", ["/members/%00/", "/members/A%00B/edit/", "/members/%01/", "/members/%2500/"]
)
def test_garbage_member_numbers_are_404(login_as, path):
    assert login_as("bob").get(path).status_code == 404
