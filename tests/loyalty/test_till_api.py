"""The till's API (/api/v1/, scope `points`): a member's points by number or any identifier,
quote, hold → commit / release, coupons; every refusal a 4xx with a reason; retries with an
Idempotency-Key replayed; no personal data in any answer."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from crm.models import Member
from crm.services.api_keys import api_key_create
from loyalty.models import Coupon, PointsAccount, PointsHold, PointsTransaction, Reward
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import IdentityFactory, MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

PHONE_TYPED = "0912-345-678"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def key(alice) -> str:
    return api_key_create(name="POS", channel="store", actor=alice, scopes=["points"])[1]


@pytest.fixture
def api(key):
    client = Client()

    def _call(method, path, body=None, *, idempotency_key=None, bearer=None, language="en"):
        headers = {"Authorization": f"Bearer {bearer or key}", "Accept-Language": language}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if method == "get":
            return client.get(f"/api/v1/{path}", headers=headers)
        data = json.dumps(body) if body is not None else ""
        return client.post(
            f"/api/v1/{path}", data=data, content_type="application/json", headers=headers
        )

    return _call


@pytest.fixture
def member() -> Member:
    """A member with 100 points, a phone, an email and a name the API must never answer."""
    member = MemberFactory(name="陳美玲")
    IdentityFactory(member=member, raw="+886 912 345 678")
    IdentityFactory(member=member, email=True, raw="meiling.chen@example.com")
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    entries_post(
        entries=[
            Entry(
                account_id,
                PointsTransaction.Kind.EARN,
                100,
                "earn:test",
                PointsTransaction.Source.ORDER,
                expires_on=timezone.localdate() + timedelta(days=10),
            )
        ]
    )
    return member


def _refusal(response, status: int, reason: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["reason"] == reason
    return body["detail"]


def _no_personal_data(response) -> None:
    text = response.content.decode()
    for secret in ("陳美玲", "912345678", "912-345", "meiling", "example.com"):
        assert secret not in text, f"{secret!r} in {text}"


# --- GET /members/{member}/points ------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    ["member_no", PHONE_TYPED, "+886912345678", "０９１２３４５６７８", "MeiLing.Chen@Example.com"],
)
def test_points_by_number_or_any_identifier_in_any_spelling(api, member, term):
    term = member.member_no.lower() if term == "member_no" else term

    response = api("get", f"members/{term}/points")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["member_no"] == member.member_no
    assert (body["balance"], body["held"], body["available"]) == (100, 0, 100)
    assert body["expiring_30d"] == 100
    assert body["expiring"] == [
        {"on": (timezone.localdate() + timedelta(days=10)).isoformat(), "points": 100}
    ]
    assert body["next_tier"]["spend_needed_twd"] == body["next_tier"]["threshold_twd"]
    _no_personal_data(response)


def test_a_merged_members_number_answers_for_the_member_it_joined(api, member):
    merged = MemberFactory()
    Member.objects.filter(pk=merged.pk).update(status="merged", merged_into=member)

    response = api("get", f"members/{merged.member_no}/points")

    assert response.json()["member_no"] == member.member_no


def test_an_unknown_member_is_a_404_with_a_reason(api, member):
    detail = _refusal(api("get", "members/0987-654-321/points"), 404, "member_unknown")
    assert detail == "No member has this number or identifier."


def test_a_member_without_an_account_has_no_points(api):
    member = MemberFactory()
    body = api("get", f"members/{member.member_no}/points").json()
    assert (body["balance"], body["available"], body["tier"], body["expiring"]) == (0, 0, None, [])


def test_a_key_without_the_points_scope_is_refused(api, member, alice):
    ingest = api_key_create(name="POS ingest", channel="store", actor=alice)[1]
    response = api("get", f"members/{member.member_no}/points", bearer=ingest)
    assert response.status_code == 403
    assert "points" in response.json()["detail"]


# --- POST /points/quote ----------------------------------------------------------------------


def test_quote_answers_points_and_discount_and_writes_nothing(api, member):
    response = api("post", "points/quote", {"member": PHONE_TYPED, "order_amount_twd": 60})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "member_no": member.member_no,
        "order_amount_twd": 60,
        "available": 100,
        "max_points": 60,
        "points": 60,
        "discount_twd": 60,
        "pay_twd": 0,
    }
    assert PointsHold.objects.count() == 0
    _no_personal_data(response)


def test_quote_refuses_a_bad_amount_with_the_apis_422(api, member):
    response = api("post", "points/quote", {"member": PHONE_TYPED, "order_amount_twd": "60"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "order_amount_twd"]


# --- holds -----------------------------------------------------------------------------------


def test_hold_then_commit_redeems_on_the_order(api, member):
    created = api(
        "post", "points/holds", {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 80}
    )
    assert created.status_code == 201, created.content
    hold = created.json()
    assert (hold["status"], hold["points"], hold["discount_twd"], hold["available"]) == (
        "held",
        80,
        80,
        20,
    )
    assert hold["channel"] == "store"

    committed = api("post", f"points/holds/{hold['id']}/commit", {"order_no": "POS-1"})

    assert committed.status_code == 200, committed.content
    body = committed.json()
    assert (body["status"], body["order_no"], body["available"]) == ("committed", "POS-1", 20)
    assert body["redeemed"]["points"] == -80 and body["redeemed"]["balance_after"] == 20
    assert PointsAccount.objects.get(member=member).balance == 20
    _no_personal_data(created)
    _no_personal_data(committed)


def test_a_hold_retried_with_its_idempotency_key_is_made_once(api, member):
    body = {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 30}

    first = api("post", "points/holds", body, idempotency_key="till-7-sale-1")
    again = api("post", "points/holds", body, idempotency_key="till-7-sale-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert PointsHold.objects.count() == 1


def test_a_commit_retried_answers_the_same_entry_with_or_without_a_key(api, member):
    hold = api(
        "post", "points/holds", {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 50}
    ).json()
    path = f"points/holds/{hold['id']}/commit"

    first = api("post", path, {"order_no": "POS-1"}, idempotency_key="commit-1")
    replayed = api("post", path, {"order_no": "POS-1"}, idempotency_key="commit-1")
    keyless = api("post", path, {"order_no": "POS-1"})

    assert first.status_code == replayed.status_code == keyless.status_code == 200
    assert replayed["Idempotent-Replayed"] == "true"
    ids = {r.json()["redeemed"]["entry_id"] for r in (first, replayed, keyless)}
    assert len(ids) == 1
    assert PointsTransaction.objects.filter(kind="redeem").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 50


def test_hold_refusals_say_why(api, member):
    _hold_body = {"member": PHONE_TYPED, "order_amount_twd": 1000}
    detail = _refusal(
        api("post", "points/holds", {**_hold_body, "points": 101}), 409, "insufficient_points"
    )
    assert detail == "Not enough points: 100 available, 101 asked for."
    _refusal(
        api("post", "points/holds", {**_hold_body, "order_amount_twd": 50, "points": 60}),
        409,
        "over_order_share",
    )
    _refusal(api("post", "points/holds", {**_hold_body, "member": "M404"}), 404, "member_unknown")
    assert PointsHold.objects.count() == 0


def test_a_hold_names_an_unknown_store_as_a_field_error(api, member):
    body = {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 1, "store_code": "X9"}
    response = api("post", "points/holds", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "store_code"]
    store = StoreFactory()
    assert api("post", "points/holds", {**body, "store_code": store.code}).status_code == 201


def test_commit_refusals_say_why(api, member):
    body = {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 10}
    committed = api("post", "points/holds", body).json()["id"]
    api("post", f"points/holds/{committed}/commit", {"order_no": "POS-1"})
    released = api("post", "points/holds", body).json()["id"]
    api("post", f"points/holds/{released}/release")
    expired = api("post", "points/holds", body).json()["id"]
    PointsHold.objects.filter(pk=expired).update(expires_at=timezone.now() - timedelta(seconds=1))

    _refusal(
        api("post", f"points/holds/{committed}/commit", {"order_no": "POS-2"}),
        409,
        "hold_committed_other_order",
    )
    _refusal(
        api("post", f"points/holds/{released}/commit", {"order_no": "POS-3"}), 409, "hold_released"
    )
    detail = _refusal(
        api("post", f"points/holds/{expired}/commit", {"order_no": "POS-4"}), 409, "hold_expired"
    )
    assert detail == "This points hold has expired; make a new one."
    _refusal(api("post", "points/holds/999999/commit", {"order_no": "POS-5"}), 404, "hold_unknown")
    _refusal(api("post", f"points/holds/{committed}/release"), 409, "hold_committed")
    assert PointsTransaction.objects.filter(kind="redeem").count() == 1


def test_release_gives_the_points_back(api, member):
    hold = api(
        "post", "points/holds", {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 90}
    ).json()

    released = api("post", f"points/holds/{hold['id']}/release")
    again = api("post", f"points/holds/{hold['id']}/release")

    assert released.status_code == again.status_code == 200
    assert (released.json()["status"], released.json()["available"]) == ("released", 100)
    assert api("get", f"members/{member.member_no}/points").json()["available"] == 100


def test_another_tills_key_may_not_commit_or_release_a_hold(api, member, alice):
    other = api_key_create(name="POS 2", channel="store", actor=alice, scopes=["points"])[1]
    hold = api(
        "post", "points/holds", {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 90}
    ).json()

    commit = api("post", f"points/holds/{hold['id']}/commit", {"order_no": "X"}, bearer=other)
    release = api("post", f"points/holds/{hold['id']}/release", bearer=other)

    _refusal(commit, 404, "hold_unknown")
    _refusal(release, 404, "hold_unknown")
    mine = api("post", f"points/holds/{hold['id']}/commit", {"order_no": "POS-9"})
    assert (mine.status_code, mine.json()["status"]) == (200, "committed")


def test_refusals_are_translated(api, member):
    response = api(
        "post",
        "points/holds",
        {"member": PHONE_TYPED, "order_amount_twd": 1000, "points": 500},
        language="zh-hant",
    )
    body = response.json()
    assert body["reason"] == "insufficient_points"
    assert "點數不足" in body["detail"]


# --- POST /coupons/{code}/redeem --------------------------------------------------------------


def _coupon(member: Member, **fields) -> Coupon:
    reward = Reward.objects.create(name="拿鐵兌換券", points_price=100, discount_twd=120)
    defaults = {"code": "ABCD2345WXYZ", "expires_at": timezone.now() + timedelta(days=3)}
    return Coupon.objects.create(
        reward=reward, account=member.points_account, **{**defaults, **fields}
    )


def test_a_coupon_redeems_once_and_answers_its_reward_and_value(api, member):
    coupon = _coupon(member)

    used = api("post", "coupons/abcd-2345-wxyz/redeem", {"order_no": "POS-1"})

    assert used.status_code == 200, used.content
    body = used.json()
    assert (body["code"], body["status"], body["discount_twd"], body["order_no"]) == (
        "ABCD2345WXYZ",
        "used",
        120,
        "POS-1",
    )
    assert body["reward"] == {"id": coupon.reward_id, "name": "拿鐵兌換券"}
    _no_personal_data(used)
    detail = _refusal(api("post", "coupons/ABCD2345WXYZ/redeem", {}), 409, "coupon_used")
    assert detail == "This coupon has been used already."


def test_a_coupon_retried_with_its_key_is_replayed_not_refused(api, member):
    _coupon(member)
    first = api("post", "coupons/ABCD2345WXYZ/redeem", {"order_no": "POS-1"}, idempotency_key="c1")
    again = api("post", "coupons/ABCD2345WXYZ/redeem", {"order_no": "POS-1"}, idempotency_key="c1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "fields, status, reason",
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, 409, "coupon_expired"),
        ({"status": Coupon.Status.VOID}, 409, "coupon_void"),
        ({"code": "OTHERCODE234"}, 404, "coupon_unknown"),
    ],
)
def test_coupon_refusals_say_why(api, member, fields, status, reason):
    _coupon(member, **fields)
    _refusal(api("post", "coupons/ABCD2345WXYZ/redeem", {}), status, reason)
