"""The earn-rules page (/loyalty/rules/): Marketers edit rules and terms (audited), Analysts
read, invalid input is kept, and the preview counts what a draft would have earned last month."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.services.orders import OrderIn, orders_upsert
from loyalty.earning import earn_context
from loyalty.models import EarnRule, Programme
from loyalty.services.earn_rules import draft_with_rule, draft_with_terms
from loyalty.services.earning import earn_preview, last_month
from omnichannel.models import AuditEvent
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

URL = "/loyalty/rules/"
TAIPEI = ZoneInfo("Asia/Taipei")


def _last_month_sales(*amounts: int, member=None, channel="web"):
    start, _end = last_month(timezone.localdate())
    at = datetime.combine(start + timedelta(days=3), time(12), tzinfo=TAIPEI)
    member = member or MemberFactory()
    orders_upsert(
        orders=[
            OrderIn(
                channel=channel,
                external_no=f"{channel}-{member.pk}-{i}",
                amount_twd=amount,
                placed_at=at,
                status="placed",
            )
            for i, amount in enumerate(amounts)
        ],
        member_ids=[member.pk] * len(amounts),
    )
    return member


def _rule_post(**fields):
    data = {
        "draft": "rule",
        "name": "雙倍點數",
        "kind": "promotion",
        "channel": "",
        "multiplier": "2",
        "starts_at": "",
        "ends_at": "",
        "is_active": "on",
    }
    data.update(fields)
    return data


def test_an_analyst_reads_the_rules_and_cannot_change_them(login_as):
    EarnRule.objects.create(name="App ×2", kind="channel", channel="app", multiplier=2)
    client = login_as("carol")

    page = client.get(URL)
    assert page.status_code == 200
    assert "App ×2" in page.content.decode()
    assert 'data-testid="rule-form"' not in page.content.decode()
    assert 'data-testid="terms-form"' not in page.content.decode()
    assert client.post("/loyalty/rules/new/", _rule_post()).status_code == 403
    assert client.post("/loyalty/rules/terms/", {}).status_code == 403


def test_a_marketer_creates_and_edits_a_rule_and_each_change_is_audited(login_as):
    client = login_as("bob")
    response = client.post("/loyalty/rules/new/", _rule_post(), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == URL
    rule = EarnRule.objects.get()
    assert (rule.name, rule.kind, rule.multiplier, rule.updated_by.username) == (
        "雙倍點數",
        "promotion",
        2,
        "bob",
    )

    client.post(f"/loyalty/rules/{rule.pk}/", _rule_post(multiplier="3", is_active=""))
    rule.refresh_from_db()
    assert (rule.multiplier, rule.is_active) == (3, False)
    assert list(
        AuditEvent.objects.filter(object_type="loyalty.earnrule")
        .order_by("pk")
        .values_list("action", "object_id")
    ) == [("earn_rule.created", str(rule.pk)), ("earn_rule.changed", str(rule.pk))]


def test_an_invalid_rule_keeps_what_was_typed(login_as):
    client = login_as("bob")
    response = client.post(
        "/loyalty/rules/new/",
        _rule_post(name="手機下單加倍", kind="channel", multiplier="2.5"),
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="手機下單加倍"' in html and 'value="2.5"' in html
    assert 'data-testid="error-channel"' in html
    assert not EarnRule.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_marketer_changes_the_earning_terms_audited_and_bad_terms_are_kept(login_as):
    client = login_as("bob")
    bad = client.post(
        "/loyalty/rules/terms/",
        {"spend_per_point_twd": "0", "min_order_twd": "350", "expiry_months": "12"},
    )
    assert 'value="350"' in bad.content.decode()
    assert Programme.current().min_order_twd == 0

    client.post(
        "/loyalty/rules/terms/",
        {"spend_per_point_twd": "50", "min_order_twd": "350", "expiry_months": "24"},
    )
    programme = Programme.current()
    assert (programme.spend_per_point_twd, programme.min_order_twd, programme.expiry_months) == (
        50,
        350,
        24,
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.summary_params["spend"]) == ("programme.changed", 50)


def test_the_preview_counts_last_months_points_under_the_draft():
    doubled = _last_month_sales(1000, 550)  # 10 + 5 points
    _last_month_sales(2000, channel="app")  # 20 points; the draft does not touch the app
    draft = draft_with_rule(
        rule_id=None,
        values={"name": "web ×2", "kind": "channel", "channel": "web", "multiplier": 2},
        store_ids=[],
    )

    preview = earn_preview(draft=draft)

    assert (preview.orders, preview.points_current, preview.points_draft) == (3, 35, 50)
    assert preview.members_affected == 1
    assert doubled.pk  # the member of the web sales


def test_the_preview_of_terms_and_of_a_rule_switched_off():
    _last_month_sales(1000)
    rule = EarnRule.objects.create(name="web ×3", kind="channel", channel="web", multiplier=3)
    assert earn_preview(draft=earn_context()).points_current == 30

    off = draft_with_rule(
        rule_id=rule.pk,
        values={
            "name": rule.name,
            "kind": "channel",
            "channel": "web",
            "multiplier": 3,
            "is_active": False,
        },
        store_ids=[],
    )
    assert earn_preview(draft=off).points_draft == 10
    dearer = draft_with_terms(
        values={"spend_per_point_twd": 200, "min_order_twd": 0}, excluded_store_ids=[]
    )
    assert earn_preview(draft=dearer).points_draft == 15


def test_the_preview_view_answers_the_partial(login_as):
    _last_month_sales(1000)
    response = login_as("bob").post(
        "/loyalty/rules/preview/",
        _rule_post(kind="channel", channel="web", multiplier="2"),
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert 'data-testid="preview-current">10<' in html
    assert 'data-testid="preview-draft">20<' in html
    assert "<html" not in html

    invalid = login_as("bob").post(
        "/loyalty/rules/preview/", _rule_post(multiplier="x"), headers={"HX-Request": "true"}
    )
    assert 'data-testid="preview-draft"' not in invalid.content.decode()
