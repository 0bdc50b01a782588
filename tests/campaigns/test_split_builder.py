"""The builder's variants, split, holdouts and winner mode (plain posts, htmx or not), the
balanced draw of held-out stores, and the confirm step's held-out counts and variant sizes."""

import html
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from campaigns.models import Campaign
from campaigns.selectors import message_contents
from campaigns.services import campaign_save, holdout_stores_draw
from campaigns.services.campaigns import ERROR_SPLIT_SUM
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.campaigns.test_builder_line import HTMX, _errors, form_values
from tests.factories import (
    ConsentFactory,
    IdentityFactory,
    MemberFactory,
    OrderFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def segment():
    return Segment.objects.create(name="全部", definition=EMPTY_DEFINITION)


def _data(segment, **extra) -> dict:
    return {
        "name": "雙十一",
        "segment": str(segment.pk),
        "channel_1": "sms",
        "when": "now",
        "is_marketing": "on",
        "sms_text": "A：雙十一開跑",
        "line_count": "0",
        **extra,
    }


def test_adding_a_variant_keeps_what_was_typed_and_splits_evenly(login_as, segment):
    client = login_as("bob")
    page = client.post("/campaigns/new/", _data(segment, variant_action="add")).content.decode()
    assert not Campaign.objects.exists()
    assert 'data-testid="variant-tab-B"' in page
    values = form_values(page)
    assert values["variant_count"] == "2"
    assert (values["split_A"], values["split_B"]) == ("50", "50")
    assert values["sms_text"] == "A：雙十一開跑"
    assert values["name"] == "雙十一"
    # A third: 34/33/33; removing it gives its share back to A
    values["variant_action"] = "add"
    page = client.post("/campaigns/new/", values).content.decode()
    values = form_values(page)
    assert [values[f"split_{v}"] for v in "ABC"] == ["34", "33", "33"]
    values["variant_action"] = "remove"
    values = form_values(client.post("/campaigns/new/", values).content.decode())
    assert (values["variant_count"], values["split_A"], values["split_B"]) == ("2", "67", "33")
    assert "split_C" not in values or values["split_C"] == ""


def test_save_an_a_b_test_with_holdouts_and_winner_mode(login_as, segment):
    store = StoreFactory()
    data = _data(
        segment,
        variant_count="2",
        split_A="60",
        split_B="40",
        B_sms_text="B：全館八折",
        B_line_count="1",
        B_line_0_type="text",
        B_line_0_text="",
        holdout_percent="10",
        holdout_stores=[str(store.pk)],
        winner_metric="conversions",
        winner_test_percent="30",
        winner_after_hours="6",
        conversion_window_delivery_days="5",
        conversion_window_click_days="9",
        utm_campaign="double-11",
    )
    response = login_as("bob").post("/campaigns/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get()
    assert campaign.variant_split == {"A": 60, "B": 40}
    assert campaign.holdout_percent == 10
    assert list(campaign.holdout_stores.all()) == [store]
    assert (campaign.winner_metric, campaign.winner_test_percent, campaign.winner_after_hours) == (
        "conversions",
        30,
        6,
    )
    assert (campaign.conversion_window_delivery_days, campaign.conversion_window_click_days) == (
        5,
        9,
    )
    assert campaign.utm_campaign == "double-11"
    assert message_contents(campaign_id=campaign.pk) == {
        ("sms", "A"): {"text": "A：雙十一開跑"},
        ("sms", "B"): {"text": "B：全館八折"},
    }

    # The draft opens again with all of it, and saves unchanged
    client = login_as("bob")
    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    values = form_values(page)
    assert values["B_sms_text"] == "B：全館八折"
    assert values["split_B"] == "40"
    assert client.post(f"/campaigns/{campaign.pk}/edit/", values).status_code == 302
    assert message_contents(campaign_id=campaign.pk)[("sms", "B")] == {"text": "B：全館八折"}


def test_a_split_not_summing_to_100_is_shown_beside_it_and_nothing_is_lost(login_as, segment):
    data = _data(segment, variant_count="2", split_A="60", split_B="30", B_sms_text="B：全館八折")
    page = login_as("bob").post("/campaigns/new/", data).content.decode()
    assert not Campaign.objects.exists()
    with translation.override("zh-hant"):
        assert html.escape(str(ERROR_SPLIT_SUM % {"sum": 90})) in _errors(page, "split_A")
    values = form_values(page)
    assert values["B_sms_text"] == "B：全館八折"
    assert (values["split_A"], values["split_B"]) == ("60", "30")


def test_a_variant_content_error_is_shown_beside_its_field_while_typing(login_as, segment):
    data = _data(
        segment,
        channel_1="line",
        line_count="1",
        line_0_type="text",
        line_0_text="A",
        variant_count="2",
        split_A="50",
        split_B="50",
        B_line_count="1",
        B_line_0_type="text",
        B_line_0_text="看這裡 http://shop.example.com",
    )
    live = login_as("bob").post("/campaigns/check/", data, **HTMX).content.decode()
    assert 'id="err-B_line_0_text" class="field-errors" hx-swap-oob="true"' in live
    assert "https://" in _errors(live, "B_line_0_text")


def test_variant_b_has_its_own_line_message_list(login_as, segment):
    data = _data(
        segment,
        channel_1="line",
        line_count="1",
        line_0_type="text",
        line_0_text="A 的訊息",
        variant_count="2",
        split_A="50",
        split_B="50",
        B_line_count="1",
        B_line_0_type="text",
        B_line_0_text="B 的第一則",
        line_action="B_add_text",
    )
    client = login_as("bob")
    part = client.post("/campaigns/line/", data, **HTMX).content.decode()
    assert 'id="line-messages-B"' in part
    assert part.count('data-testid="B_line-message"') == 2
    assert "B 的第一則</textarea>" in part
    # Without JavaScript: the whole page, A's list untouched
    values = form_values(client.post("/campaigns/new/", data).content.decode())
    assert values["B_line_count"] == "2" and values["line_count"] == "1"
    assert values["line_0_text"] == "A 的訊息"
    values["B_line_1_text"] = "B 的第二則"
    values.pop("line_action", None)
    assert client.post("/campaigns/new/", values).status_code == 302
    assert message_contents(campaign_id=Campaign.objects.get().pk)[("line", "B")] == {
        "messages": [{"type": "text", "text": "B 的第一則"}, {"type": "text", "text": "B 的第二則"}]
    }


# --- held-out stores --------------------------------------------------------------------------


def _stores_with_sales(amounts: list[int]) -> list[int]:
    now = timezone.now()
    ids = []
    for amount in amounts:
        store = StoreFactory()
        member = MemberFactory(home_store=store)
        if amount:
            OrderFactory(member=member, amount_twd=amount, placed_at=now - timedelta(days=10))
        # An old sale outside the 90 days does not count
        OrderFactory(member=member, amount_twd=1_000_000, placed_at=now - timedelta(days=200))
        ids.append(store.pk)
    return ids


def test_draw_balanced_stores_picks_one_of_each_pair_of_neighbours_in_sales(segment):
    # Sales 800, 700 | 600, 500 | 400, 300 | 200, 100 (ids in another order)
    ids = _stores_with_sales([100, 800, 300, 600, 200, 700, 500, 400])
    by_rank = [ids[i] for i in (1, 5, 3, 6, 7, 2, 4, 0)]
    campaign = Campaign.objects.create(name="x", segment=segment)
    drawn = holdout_stores_draw(campaign=campaign, share_percent=50)
    assert len(drawn) == 4
    for pair in range(4):
        assert len(set(drawn) & set(by_rank[2 * pair : 2 * pair + 2])) == 1
    # The same campaign draws the same stores
    assert holdout_stores_draw(campaign=campaign, share_percent=50) == drawn
    # 25%: one of each group of four
    drawn = holdout_stores_draw(campaign=campaign, share_percent=25)
    assert len(set(drawn) & set(by_rank[:4])) == 1 and len(set(drawn) & set(by_rank[4:])) == 1


def test_draw_button_selects_the_drawn_stores_and_keeps_the_rest(login_as, segment):
    ids = _stores_with_sales([500, 400, 300, 200])
    data = _data(segment, stores_action="draw", holdout_store_share="50", holdout_percent="5")
    page = login_as("bob").post("/campaigns/new/", data).content.decode()
    values = form_values(page)
    assert values["holdout_percent"] == "5"
    selected = [int(v) for k, v in FormValuesList(page) if k == "holdout_stores"]
    assert selected == holdout_stores_draw(campaign=Campaign(), share_percent=50)
    assert set(selected) <= set(ids) and len(selected) == 2


def FormValuesList(page: str) -> list[tuple[str, str]]:
    from tests.campaigns.test_builder_line import FormValues

    parser = FormValues()
    parser.feed(page.split('<form id="campaign-builder"')[1].split("</form>")[0])
    return parser.data


# --- the confirm step -------------------------------------------------------------------------


def test_confirm_shows_held_out_counts_and_variant_sizes(login_as, segment, settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 0
    held_store = StoreFactory()
    for _ in range(3):
        MemberFactory(home_store=held_store)
    for _ in range(20):
        member = MemberFactory(online=True)
        IdentityFactory(member=member, email=True)
        ConsentFactory(member=member, channel="email")
    campaign = campaign_save(
        name="雙十一",
        segment=segment,
        channels=["email"],
        contents={"email": {"subject": "A", "text": "A"}},
        variant_split={"A": 50, "B": 50},
        holdout_percent=10,
        holdout_store_ids=[held_store.pk],
    )
    page = login_as("bob").get(f"/campaigns/{campaign.pk}/confirm/").content.decode()
    section = page.split('data-testid="confirm-split"')[1].split("</section>")[0]

    def count(marker: str) -> str:
        return section.split(marker)[1].split('class="num">')[1].split("<")[0]

    assert count('data-arm="store_holdout"') == "3"
    assert count('data-arm="control_group"') == "0"
    assert count('data-arm="holdout"') == "2"
    assert count('data-variant="A"') == "9"
    assert count('data-variant="B"') == "9"
