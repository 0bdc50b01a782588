"""A marketer edits the rewards catalogue (an error shown beside the field with what was typed
kept), finds a coupon by a code typed any way, sees its QR code and marks it used; a refusal is
said in words; an Analyst sees the member masked and no actions; a reward is redeemed for a
member from the member's redeem page."""

import pytest
from django.utils import translation
from playwright.sync_api import expect

from loyalty.models import Coupon, PointsTransaction, Reward
from loyalty.services.coupons import CouponRefused, coupon_use
from loyalty.services.rewards import coupon_code_display, reward_redeem
from tests.loyalty.rewards_helpers import member_with_points, reward

pytestmark = pytest.mark.browser


def _zh(text) -> str:
    with translation.override("zh-hant"):
        return str(text)


@pytest.fixture
def coupon(transactional_db) -> Coupon:
    member, _account = member_with_points(500, name="林美玲", member_no="M0000777")
    return reward_redeem(
        member_id=member.pk,
        reward_id=reward(name="星巴克中杯拿鐵", stock=10).pk,
        source=PointsTransaction.Source.PAGE,
        idempotency_key="browser",
    )


def test_a_marketer_adds_and_edits_a_reward(browser_login, live_server):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/rewards/")
    expect(page.locator("[data-testid=rewards-empty]")).to_be_visible()
    page.click("[data-testid=reward-new]")

    page.fill("#id_name", "品牌帆布袋")
    page.fill("#id_points_price", "300")
    page.fill("#id_discount_twd", "0")
    page.fill("#id_stock", "200")
    page.fill("#id_available_from", "2026-12-10T10:00")
    page.fill("#id_available_until", "2026-12-01T10:00")
    page.click("[data-testid=reward-save]")

    expect(page.locator("[data-testid=error-available_until]")).to_have_text(
        "結束時間必須晚於開始時間。"
    )
    expect(page.locator("#id_name")).to_have_value("品牌帆布袋")
    expect(page.locator("#id_stock")).to_have_value("200")
    page.fill("#id_available_until", "2027-01-31T22:00")
    page.click("[data-testid=reward-save]")

    row = page.locator("[data-testid=reward-row]")
    expect(row).to_have_count(1)
    expect(row.locator("[data-testid=reward-points]")).to_have_text("300")
    row.locator("[data-testid=reward-link]").click()
    page.fill("#id_stock", "150")
    page.click("[data-testid=reward-save]")
    expect(page.locator("[data-testid=reward-stock]")).to_have_text("150")
    assert Reward.objects.get().stock == 150


def test_find_a_coupon_typed_any_way_and_mark_it_used(browser_login, live_server, coupon):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/coupons/")
    typed = coupon_code_display(coupon.code).lower().replace("-", " ")
    page.fill("#id_code", typed)
    page.click("[data-testid=coupon-find]")

    page.wait_for_url(f"{live_server.url}/loyalty/coupons/{coupon.code}/")
    expect(page.locator("[data-testid=coupon-code]")).to_have_text(coupon_code_display(coupon.code))
    expect(page.locator("[data-testid=coupon-member-name]")).to_have_text("林美玲")
    qr = page.locator("[data-testid=coupon-qr]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=coupon-qr]').naturalWidth > 0"
    )
    assert qr.evaluate("img => img.naturalWidth") > 0

    page.fill("#id_order_no", "POS-20261207-0001")
    page.click("[data-testid=coupon-use]")
    expect(page.locator("[data-testid=coupon-status]")).to_have_attribute("data-status", "used")
    expect(page.locator("[data-testid=coupon-used]")).to_contain_text("POS-20261207-0001")
    expect(page.locator("[data-testid=coupon-use-form]")).to_have_count(0)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.used_order_no) == ("used", "POS-20261207-0001")


def test_a_coupon_used_meanwhile_is_refused_in_words(browser_login, live_server, coupon):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/coupons/{coupon.code}/")
    coupon_use(code=coupon.code, via=Coupon.UsedVia.TILL)  # a till was quicker
    page.fill("#id_order_no", "W-1")
    page.click("[data-testid=coupon-use]")
    expect(page.locator("[data-testid=coupon-refusal]")).to_have_text(
        _zh(CouponRefused.MESSAGES["used"])
    )


def test_an_analyst_sees_the_coupon_masked_and_without_actions(browser_login, live_server, coupon):
    page = browser_login("carol")
    page.goto(f"{live_server.url}/loyalty/coupons/")
    page.fill("#id_code", coupon.code)
    page.click("[data-testid=coupon-find]")
    expect(page.locator("[data-testid=coupon-member]")).to_contain_text("M0000777")
    expect(page.locator("[data-testid=coupon-member-name]")).to_have_text("林**")
    expect(page.locator("[data-testid=coupon-use-form]")).to_have_count(0)
    expect(page.locator("[data-testid=coupon-void-form]")).to_have_count(0)


def test_redeem_a_reward_for_a_member(browser_login, live_server, transactional_db):
    _member, account = member_with_points(350, member_no="M0000888")
    bag = reward(name="品牌帆布袋", points_price=300, stock=5)
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/members/M0000888/redeem/")
    page.select_option("#id_reward", str(bag.pk))
    page.click("[data-testid=redeem-submit]")
    page.wait_for_url(f"{live_server.url}/loyalty/coupons/**")
    expect(page.locator("[data-testid=coupon-status]")).to_have_attribute("data-status", "issued")
    account.refresh_from_db()
    assert account.balance == 50 and Coupon.objects.filter(account=account).count() == 1
