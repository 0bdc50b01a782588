"""The campaigns API (issue 10): segments with live counts; create, launch and follow a campaign
through the pipeline with the sandbox backends; idempotent replays; refusals with reasons."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from campaigns.api import ERROR_CAMPAIGN_UNKNOWN, ERROR_SEGMENT_UNKNOWN
from campaigns.content.sms import ERROR_NO_TEXT
from campaigns.models import Campaign, Delivery
from campaigns.services.campaigns import ERROR_NOT_LAUNCHABLE, ERROR_SEND_AT_PAST
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from crm.services.api_keys import api_key_create
from omnichannel.models import AuditEvent
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages compared in English: the calls ask for it, the constants are read in it."""
    with translation.override("en"):
        yield


WOMEN = {"op": "and", "rules": [{"rule": "gender", "operator": "is", "value": "female"}]}
LINE = {"messages": [{"type": "text", "text": "{{name}}，週年慶開跑！"}]}
EMAIL = {"subject": "週年慶", "text": "Hi {{name}}", "html": "<p>Hi {{name}}</p>"}
SMS = {"text": "週年慶開跑"}


@pytest.fixture
def key(alice) -> str:
    return api_key_create(
        name="Marketing tool", channel="email", actor=alice, scopes=["campaigns"]
    )[1]


@pytest.fixture
def api(key):
    client = Client()

    def _call(method: str, path: str, body=None, *, idempotency_key: str | None = None):
        headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if method == "get":
            return client.get(f"/api/v1/{path}", headers=headers)
        data = json.dumps(body) if body is not None else ""
        return client.post(
            f"/api/v1/{path}", data=data, content_type="application/json", headers=headers
        )

    return _call


def _errors(response) -> dict[tuple, str]:
    assert response.status_code == 422, response.content
    return {tuple(item["loc"]): item["msg"] for item in response.json()["detail"]}


def _member(*, line=False, email=False, gender="female"):
    member = MemberFactory(gender=gender)
    if line:
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    if email:
        IdentityFactory(member=member, email=True)
        ConsentFactory(member=member, channel="email")
    return member


def _body(segment: Segment, **fields) -> dict:
    return {
        "name": "週年慶",
        "segment_id": segment.pk,
        "channels": ["line", "email"],
        "content": {"line": LINE, "email": EMAIL},
        **fields,
    }


# --- Segments ----------------------------------------------------------------------------------


def test_segments_list_gives_live_counts_in_one_count_query(api, django_assert_max_num_queries):
    women = Segment.objects.create(name="A women", definition=WOMEN, member_count=99)
    everyone = Segment.objects.create(name="A everyone", definition=EMPTY_DEFINITION)
    [_member() for _ in range(3)]
    _member(gender="male")

    # key lookup, last-used update, page, total, ONE count for every segment on the page
    with django_assert_max_num_queries(6):
        response = api("get", "segments?limit=100")

    assert response.status_code == 200
    items = {item["id"]: item for item in response.json()["items"]}
    assert items[women.pk] == {"id": women.pk, "name": "A women", "count": 3}  # live, not 99
    assert items[everyone.pk]["count"] == 4
    assert response.json()["count"] == Segment.objects.count()


def test_segments_list_pages(api):
    for n in range(3):
        Segment.objects.create(name=f"!{n}", definition=EMPTY_DEFINITION)

    first = api("get", "segments?limit=2&offset=0").json()
    second = api("get", "segments?limit=2&offset=2").json()

    assert [item["name"] for item in first["items"]] == ["!0", "!1"]
    assert second["items"][0]["name"] == "!2"
    assert api("get", "segments?limit=1000").status_code == 422


def test_segment_whose_rules_no_longer_compile_counts_null(api):
    gone = Segment.objects.create(
        name="!gone", definition={"op": "and", "rules": [{"rule": "gone_app_rule"}]}
    )

    items = {item["id"]: item for item in api("get", "segments").json()["items"]}

    assert items[gone.pk]["count"] is None


# --- Create → launch → counts ------------------------------------------------------------------


def test_create_launch_and_follow_a_campaign_through_the_pipeline(
    api, key, eager_celery, django_capture_on_commit_callbacks
):
    segment = Segment.objects.create(name="Women", definition=WOMEN)
    on_line = [_member(line=True, email=True) for _ in range(2)]
    email_only = _member(email=True)
    unreachable = _member()
    _member(line=True, gender="male")  # not in the segment

    created = api("post", "campaigns", _body(segment))
    assert created.status_code == 201, created.content
    campaign_id = created.json()["id"]
    assert created.json()["status"] == "draft"
    assert created.json()["channels"] == ["line", "email"]

    with django_capture_on_commit_callbacks(execute=True):
        launched = api("post", f"campaigns/{campaign_id}/launch")
    assert launched.status_code == 200, launched.content

    answer = api("get", f"campaigns/{campaign_id}").json()
    assert answer["status"] == "done"
    assert answer["counts"]["by_status"] == {"sent": 3, "suppressed": 1}
    assert answer["counts"]["by_reason"] == {"suppressed": {"no_channel": 1}}
    assert answer["counts"]["by_channel"] == {"line": {"sent": 2}, "email": {"sent": 1}}
    assert answer["progress"]["percent"] == 100
    assert Delivery.objects.filter(member__in=on_line, channel="line").count() == 2
    assert Delivery.objects.get(member=email_only).channel == "email"
    assert Delivery.objects.get(member=unreachable).status == "suppressed"
    # No personal data in any answer: names, addresses, member numbers.
    text = created.content.decode() + launched.content.decode() + json.dumps(answer)
    for member in [*on_line, email_only, unreachable]:
        assert member.name not in text
        assert member.member_no not in text
        for identity in member.identities.all():
            assert identity.value not in text


def test_launch_is_audited_with_the_key_as_actor(api):
    segment = Segment.objects.create(name="Women", definition=WOMEN)
    campaign_id = api("post", "campaigns", _body(segment)).json()["id"]

    api("post", f"campaigns/{campaign_id}/launch")

    event = AuditEvent.objects.get(action="campaign.launched", object_id=str(campaign_id))
    assert event.actor is None
    assert "Marketing tool" in event.summary_params["key"]
    assert "API key" in event.summary


def test_campaign_with_a_later_send_at_is_scheduled(api):
    segment = Segment.objects.create(name="Women", definition=WOMEN)
    send_at = (timezone.now() + timedelta(days=1)).isoformat()
    campaign_id = api("post", "campaigns", _body(segment, send_at=send_at)).json()["id"]

    launched = api("post", f"campaigns/{campaign_id}/launch")

    assert launched.json()["status"] == "scheduled"


def test_launching_twice_is_409_with_the_reason(api):
    segment = Segment.objects.create(name="Women", definition=WOMEN)
    campaign_id = api("post", "campaigns", _body(segment)).json()["id"]
    api("post", f"campaigns/{campaign_id}/launch")

    again = api("post", f"campaigns/{campaign_id}/launch")

    assert again.status_code == 409
    assert again.json()["detail"] == str(ERROR_NOT_LAUNCHABLE)


def test_unknown_campaign_is_404(api):
    assert api("get", "campaigns/999999").json()["detail"] == str(
        ERROR_CAMPAIGN_UNKNOWN % {"id": 999999}
    )
    assert api("post", "campaigns/999999/launch").status_code == 404


# --- Idempotency -------------------------------------------------------------------------------


def test_create_replayed_with_its_idempotency_key_returns_the_same_campaign(api):
    segment = Segment.objects.create(name="Women", definition=WOMEN)

    first = api("post", "campaigns", _body(segment), idempotency_key="c-1")
    again = api("post", "campaigns", _body(segment), idempotency_key="c-1")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Campaign.objects.count() == 1
    other = api("post", "campaigns", _body(segment, name="Other"), idempotency_key="c-1")
    assert other.status_code == 422  # the same key for another body is refused
    assert Campaign.objects.count() == 1


def test_launch_replayed_with_its_idempotency_key_is_not_a_409(api):
    segment = Segment.objects.create(name="Women", definition=WOMEN)
    campaign_id = api("post", "campaigns", _body(segment)).json()["id"]

    first = api("post", f"campaigns/{campaign_id}/launch", idempotency_key="l-1")
    again = api("post", f"campaigns/{campaign_id}/launch", idempotency_key="l-1")

    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="campaign.launched").count() == 1


def test_launch_with_a_stray_body_and_an_idempotency_key_is_no_server_error(api, key):
    segment = Segment.objects.create(name="Women", definition=WOMEN)
    campaign_id = api("post", "campaigns", _body(segment)).json()["id"]

    response = Client().post(
        f"/api/v1/campaigns/{campaign_id}/launch",
        data=b"not json \xff",
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "l-2"},
    )

    assert response.status_code == 200


# --- Refusals, with a reason per field ---------------------------------------------------------


def test_unknown_segment_is_refused_on_segment_id(api):
    errors = _errors(api("post", "campaigns", {**_body(Segment(pk=999999))}))

    assert errors == {("body", "segment_id"): str(ERROR_SEGMENT_UNKNOWN % {"id": 999999})}
    assert not Campaign.objects.exists()


def test_content_a_provider_would_refuse_is_named_by_field(api):
    segment = Segment.objects.create(name="Women", definition=WOMEN)
    past = (timezone.now() - timedelta(hours=1)).isoformat()

    errors = _errors(
        api(
            "post",
            "campaigns",
            _body(segment, channels=["sms"], content={"sms": {"text": ""}}, send_at=past),
        )
    )

    assert errors[("body", "content", "sms", "text")] == str(ERROR_NO_TEXT)
    assert errors[("body", "send_at")] == str(ERROR_SEND_AT_PAST)
    assert not Campaign.objects.exists()


def test_malformed_body_is_refused_by_the_schema(api):
    segment = Segment.objects.create(name="Women", definition=WOMEN)

    errors = _errors(api("post", "campaigns", _body(segment, channels=["fax"], colour="red")))

    assert ("body", "channels", 0) in errors
    assert ("body", "colour") in errors
    assert api("post", "campaigns", "[1]").status_code in (400, 422)
