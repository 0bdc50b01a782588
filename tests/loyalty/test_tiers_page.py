"""/loyalty/tiers/: Marketers edit tiers and the grace days (saved, members re-checked with
reason "rules"), Analysts read; errors come back beside the fields with the input kept."""

import pytest

from loyalty.models import PointsAccount, Programme, Tier, TierChange
from loyalty.services.ledger import accounts_ensure
from tests.factories import MemberFactory, OrderFactory

pytestmark = pytest.mark.django_db
URL = "/loyalty/tiers/"


def _post_data(tiers, *, grace=30, extra=None, delete=()):
    data = {
        "tiers-TOTAL_FORMS": str(len(tiers) + (1 if extra else 0)),
        "tiers-INITIAL_FORMS": str(len(tiers)),
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "12",
        "downgrade_grace_days": str(grace),
    }
    rows = [*tiers, *([extra] if extra else [])]
    for n, row in enumerate(rows):
        for field, value in row.items():
            data[f"tiers-{n}-{field}"] = "" if value is None else str(value)
        if row.get("id") in delete:
            data[f"tiers-{n}-DELETE"] = "on"
    return data


def _current():
    return [
        {
            "id": t.pk,
            "name": t.name,
            "threshold_twd": t.threshold_twd,
            "earn_multiplier": t.earn_multiplier,
            "colour": t.colour,
        }
        for t in Tier.objects.order_by("rank")
    ]


def test_analyst_reads_and_cannot_save(login_as):
    client = login_as("carol")
    page = client.get(URL)
    assert page.status_code == 200
    assert "銀卡" in page.content.decode()
    assert 'data-testid="tiers-save"' not in page.content.decode()
    assert client.post(URL, _post_data(_current())).status_code == 403


def test_marketer_saves_a_threshold_and_members_are_rechecked_for_rules(login_as):
    member = MemberFactory()
    OrderFactory(member=member, amount_twd=12_000)
    accounts_ensure(member_ids=[member.pk])
    tiers = _current()
    tiers[2]["threshold_twd"] = 11_000  # 金卡 now from NT$11,000
    tiers[1]["name"] = "銀卡 Silver"

    response = login_as("bob").post(URL, _post_data(tiers, grace=14))

    assert response.status_code == 302
    assert Tier.objects.get(name="金卡").threshold_twd == 11_000
    assert Tier.objects.filter(name="銀卡 Silver").exists()
    assert Programme.current().downgrade_grace_days == 14
    account = PointsAccount.objects.get(member=member)
    assert account.tier.name == "金卡"
    change = TierChange.objects.get()
    assert (change.reason, change.actor.username) == ("rules", "bob")


def test_add_and_remove_a_tier_and_swap_two_thresholds(login_as):
    tiers = _current()
    silver, gold = tiers[1], tiers[2]
    silver["threshold_twd"], gold["threshold_twd"] = gold["threshold_twd"], silver["threshold_twd"]
    extra = {
        "id": "",
        "name": "鑽石",
        "threshold_twd": 200_000,
        "earn_multiplier": "3",
        "colour": "#111111",
    }
    platinum = tiers[3]["id"]

    response = login_as("bob").post(URL, _post_data(tiers, extra=extra, delete=[platinum]))

    assert response.status_code == 302
    assert list(Tier.objects.order_by("rank").values_list("name", "threshold_twd")) == [
        ("一般", 0),
        ("金卡", 10_000),
        ("銀卡", 30_000),
        ("鑽石", 200_000),
    ]


def test_errors_keep_what_was_typed_and_a_held_tier_cannot_go(login_as):
    member = MemberFactory()
    OrderFactory(member=member, amount_twd=12_000)
    from loyalty.services.tiers import tiers_evaluate_all

    accounts_ensure(member_ids=[member.pk])
    tiers_evaluate_all()
    tiers = _current()
    tiers[0]["threshold_twd"] = 5  # nobody starts at NT$0 any more
    tiers[2]["name"] = "白金"  # twice
    tiers[3]["name"] = "白金"
    silver = tiers[1]["id"]

    response = login_as("bob").post(URL, _post_data(tiers, delete=[silver]), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps the form with its errors
    assert "兩個等級不能同名" in body
    assert 'value="5"' in body  # what was typed stays
    assert Tier.objects.get(pk=silver).threshold_twd == 10_000  # nothing saved
    plain = login_as("bob").post(URL, _post_data(_current(), delete=[silver]))
    assert plain.status_code == 400
    assert "無法移除" in plain.content.decode()
    assert Tier.objects.filter(pk=silver).exists()


def test_many_accounts_are_re_checked_by_a_background_task(
    login_as, monkeypatch, django_capture_on_commit_callbacks
):
    from loyalty.services import tiers as tiers_service
    from omnichannel.celery import app

    monkeypatch.setattr(tiers_service, "INLINE_REEVALUATION_MAX", 0)
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    member = MemberFactory()
    OrderFactory(member=member, amount_twd=12_000)
    accounts_ensure(member_ids=[member.pk])
    tiers = _current()
    tiers[2]["threshold_twd"] = 11_000

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = login_as("bob").post(URL, _post_data(tiers), follow=True)
    assert "正在背景重新檢查" in response.content.decode()
    assert not TierChange.objects.exists()  # not in the request
    for callback in callbacks:
        callback()
    assert PointsAccount.objects.get(member=member).tier.name == "金卡"
    assert TierChange.objects.get().reason == "rules"
