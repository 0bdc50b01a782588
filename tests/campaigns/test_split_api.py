"""The campaigns API's variants, split, holdout and winner fields, and their 4xx reasons."""

import pytest
from django.utils import translation

from campaigns.content.sms import ERROR_NO_TEXT
from campaigns.models import Campaign, Delivery
from campaigns.selectors import message_contents
from campaigns.services.campaigns import (
    ERROR_HOLDOUT,
    ERROR_HOLDOUT_STORE_UNKNOWN,
    ERROR_SPLIT_SUM,
    ERROR_WINNER_VARIANTS,
)
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.campaigns import test_api
from tests.campaigns.test_api import _body, _errors
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

SMS_B = {"text": "B：全館八折"}
key = test_api.key  # the API key and client fixtures of the campaigns API's tests
api = test_api.api


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _segment() -> Segment:
    return Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)


def test_create_an_a_b_test_with_a_holdout_and_winner_mode(api):
    store = StoreFactory()
    body = _body(
        _segment(),
        channels=["sms"],
        content={"sms": {"text": "A：週年慶"}},
        variants={"B": {"sms": SMS_B}},
        variant_split={"A": 60, "B": 40},
        holdout_percent=10,
        holdout_store_ids=[store.pk],
        winner_metric="clicks",
        winner_test_percent=30,
        winner_after_hours=6,
        conversion_window_delivery_days=5,
        conversion_window_click_days=10,
        utm_campaign="double-11",
    )
    response = api("post", "campaigns", body)
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["variant_split"] == {"A": 60, "B": 40}
    assert out["holdout_percent"] == 10
    assert out["winner_metric"] == "clicks"
    campaign = Campaign.objects.get(pk=out["id"])
    assert list(campaign.holdout_stores.all()) == [store]
    assert (campaign.winner_test_percent, campaign.winner_after_hours) == (30, 6)
    assert (
        campaign.conversion_window_delivery_days,
        campaign.conversion_window_click_days,
        campaign.utm_campaign,
    ) == (5, 10, "double-11")
    assert message_contents(campaign_id=campaign.pk) == {
        ("sms", "A"): {"text": "A：週年慶"},
        ("sms", "B"): SMS_B,
    }


def test_a_launched_a_b_test_splits_its_audience(api):
    for _ in range(10):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    body = _body(
        _segment(),
        channels=["line"],
        content={"line": {"messages": [{"type": "text", "text": "A"}]}},
        variants={"B": {"line": {"messages": [{"type": "text", "text": "B"}]}}},
        variant_split={"A": 50, "B": 50},
        holdout_percent=20,
    )
    campaign_id = api("post", "campaigns", body).json()["id"]
    from campaigns.services import campaign_snapshot

    assert api("post", f"campaigns/{campaign_id}/launch").status_code == 200
    campaign_snapshot(campaign_id=campaign_id)
    rows = Delivery.objects.filter(campaign_id=campaign_id)
    assert rows.filter(status="held_out", reason="holdout").count() == 2
    assert rows.filter(variant="A").count() == 4
    assert rows.filter(variant="B").count() == 4


def test_a_bad_split_holdout_variant_content_and_store_are_named(api):
    body = _body(
        _segment(),
        channels=["sms"],
        content={"sms": {"text": "A"}},
        variants={"B": {"sms": {"text": ""}}},
        variant_split={"A": 50, "B": 40},
        holdout_percent=60,
        holdout_store_ids=[999999],
    )
    errors = _errors(api("post", "campaigns", body))
    assert errors[("body", "variant_split")] == str(ERROR_SPLIT_SUM % {"sum": 90})
    assert errors[("body", "variants", "B", "sms", "text")] == str(ERROR_NO_TEXT)
    assert errors[("body", "holdout_percent")] == str(ERROR_HOLDOUT)
    assert errors[("body", "holdout_store_ids")] == str(
        ERROR_HOLDOUT_STORE_UNKNOWN % {"id": 999999}
    )
    assert not Campaign.objects.exists()


def test_winner_mode_needs_two_variants_and_a_known_metric(api):
    errors = _errors(api("post", "campaigns", _body(_segment(), winner_metric="clicks")))
    assert errors[("body", "winner_metric")] == str(ERROR_WINNER_VARIANTS)
    errors = _errors(api("post", "campaigns", _body(_segment(), winner_metric="opens")))
    assert ("body", "winner_metric") in errors
    errors = _errors(api("post", "campaigns", _body(_segment(), variant_split={"E": 100})))
    assert ("body", "variant_split", "E", "[key]") in errors or any(
        loc[:2] == ("body", "variant_split") for loc in errors
    )
