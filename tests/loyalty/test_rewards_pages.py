"""The rewards catalogue, coupon lookup and coupon page, and redeeming for a member: who may
do what, errors beside the fields with the input kept, personal data masked for Analysts."""

import io
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from loyalty.models import Coupon, PointsTransaction, Reward
from loyalty.services.coupons import coupon_use
from loyalty.services.rewards import coupon_code_display, reward_redeem
from tests.loyalty.rewards_helpers import member_with_points, reward

pytestmark = pytest.mark.django_db


@pytest.fixture
def login_as(login_as):
    """The personas' clients, asking for English: the tests read the messages as written."""

    def _login(username: str):
        client = login_as(username)
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
        return client

    return _login


def _png(size=(20, 20), fmt="PNG") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, fmt)
    return SimpleUploadedFile(f"latte.{fmt.lower()}", out.getvalue(), content_type="image/png")


def _form(**overrides) -> dict:
    data = {
        "name": "星巴克中杯拿鐵",
        "description": "全台門市兌換",
        "points_price": "120",
        "discount_twd": "120",
        "stock": "50",
        "available_from": "",
        "available_until": "",
        "coupon_valid_days": "30",
        "is_active": "on",
    }
    return {**data, **overrides}


def _coupon(points: int = 500, name: str = "林美玲") -> Coupon:
    member, _account = member_with_points(points, name=name)
    return reward_redeem(
        member_id=member.pk,
        reward_id=reward(stock=10).pk,
        source=PointsTransaction.Source.PAGE,
        idempotency_key=f"page-test:{member.pk}",
    )


# --- The catalogue ------------------------------------------------------------------------------


def test_a_marketer_adds_a_reward_with_an_image(login_as, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = login_as("bob")
    response = client.post(reverse("loyalty:reward_create"), {**_form(), "image": _png()})
    assert response.status_code == 302
    saved = Reward.objects.get()
    assert (saved.points_price, saved.stock, saved.discount_twd) == (120, 50, 120)
    assert saved.image.name.startswith("rewards/")
    page = client.get(reverse("loyalty:reward_list")).content.decode()
    assert "星巴克中杯拿鐵" in page and saved.image.url in page


def test_bad_input_comes_back_beside_the_fields_with_what_was_typed(login_as):
    client = login_as("bob")
    data = _form(
        name="生日禮",
        points_price="0",
        available_from="2026-12-10T10:00",
        available_until="2026-12-01T10:00",
    )
    response = client.post(reverse("loyalty:reward_create"), data)
    page = response.content.decode()
    assert response.status_code == 200 and not Reward.objects.exists()
    assert 'value="生日禮"' in page and 'value="2026-12-10T10:00"' in page
    assert 'data-testid="error-points_price"' in page
    assert 'data-testid="error-available_until"' in page


@pytest.mark.parametrize(
    "upload",
    [
        SimpleUploadedFile("evil.png", b"<script>not an image</script>", "image/png"),
        "gif",
        "huge",
    ],
)
def test_an_upload_that_is_not_a_reasonable_image_is_refused(login_as, upload):
    if upload == "gif":
        upload = _png(fmt="GIF")
    elif upload == "huge":
        upload = _png(size=(4001, 10))
    response = login_as("bob").post(reverse("loyalty:reward_create"), {**_form(), "image": upload})
    assert response.status_code == 200
    assert 'data-testid="error-image"' in response.content.decode()
    assert not Reward.objects.exists()


def test_a_marketer_edits_a_reward(login_as):
    item = reward(stock=5)
    response = login_as("bob").post(
        reverse("loyalty:reward_edit", args=[item.pk]), _form(points_price="90", stock="")
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.points_price, item.stock) == (90, None)


def test_an_analyst_reads_the_catalogue_but_cannot_edit(login_as, django_assert_num_queries):
    for i in range(3):
        reward(name=f"禮物 {i}")
    client = login_as("carol")
    client.get(reverse("loyalty:reward_list"))  # warm the session and permission caches
    with django_assert_num_queries(7):  # session, user, 2 perms, count, role, page
        page = client.get(reverse("loyalty:reward_list"))
    assert page.status_code == 200 and "禮物 2" in page.content.decode()
    assert 'data-testid="reward-new"' not in page.content.decode()
    assert client.get(reverse("loyalty:reward_create")).status_code == 403
    assert client.post(reverse("loyalty:reward_create"), _form()).status_code == 403


# --- Coupons ------------------------------------------------------------------------------------


def test_lookup_finds_a_coupon_in_any_spelling(login_as):
    coupon = _coupon()
    typed = coupon_code_display(coupon.code).lower().replace("-", " ")
    response = login_as("carol").get(reverse("loyalty:coupon_lookup"), {"code": typed})
    assert response.status_code == 302
    assert response["Location"] == reverse("loyalty:coupon_detail", args=[coupon.code])


def test_an_unknown_code_is_said_so_with_the_code_kept(login_as):
    response = login_as("bob").get(reverse("loyalty:coupon_lookup"), {"code": "nope-1234"})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="nope-1234"' in page and "No coupon has this code." in page


def test_the_coupon_page_masks_the_member_for_an_analyst(login_as):
    coupon = _coupon(name="林美玲")
    url = reverse("loyalty:coupon_detail", args=[coupon.code])
    analyst = login_as("carol").get(url).content.decode()
    marketer = login_as("bob").get(url).content.decode()
    member_no = coupon.account.member.member_no
    assert member_no in analyst and "林美玲" not in analyst and "林**" in analyst
    assert "林美玲" in marketer
    assert 'data-testid="coupon-use-form"' not in analyst
    assert 'data-testid="coupon-use-form"' in marketer
    # The scannable code is money at the till: not for those who may not redeem.
    assert reverse("loyalty:coupon_qr", args=[coupon.code]) not in analyst
    assert 'data-testid="coupon-qr-hidden"' in analyst
    assert reverse("loyalty:coupon_qr", args=[coupon.code]) in marketer
    assert (
        login_as("carol").get(reverse("loyalty:coupon_qr", args=[coupon.code])).status_code == 403
    )


def test_an_analyst_sees_coupon_codes_masked_in_the_list(login_as):
    coupon = _coupon()
    url = reverse("loyalty:coupon_lookup")
    analyst = login_as("carol").get(url).content.decode()
    marketer = login_as("bob").get(url).content.decode()
    assert coupon.code not in analyst and 'data-testid="coupon-code-masked"' in analyst
    assert reverse("loyalty:coupon_detail", args=[coupon.code]) in marketer


def test_the_qr_code_is_an_svg_the_browser_keeps(login_as):
    coupon = _coupon()
    response = login_as("bob").get(reverse("loyalty:coupon_qr", args=[coupon.code]))
    assert response["Content-Type"] == "image/svg+xml"
    assert "max-age=86400" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert response.content.lstrip().startswith(b"<svg")


def test_a_marketer_marks_a_coupon_used_once(login_as):
    coupon = _coupon()
    client = login_as("bob")
    url = reverse("loyalty:coupon_use", args=[coupon.code])
    store = coupon.account.member.home_store
    client.post(url, {"order_no": "W-20261207-1", "store": store.pk})
    coupon.refresh_from_db()
    assert (coupon.status, coupon.used_via, coupon.used_order_no) == (
        "used",
        "page",
        "W-20261207-1",
    )
    assert coupon.used_store_id == store.pk
    again = client.post(url, {"order_no": "W-2"}, headers={"HX-Request": "true"})
    assert again.status_code == 200
    assert "This coupon has been used already." in again.content.decode()


def test_an_expired_coupon_is_refused_on_the_page_with_the_order_number_kept(login_as):
    coupon = _coupon()
    Coupon.objects.filter(pk=coupon.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    response = login_as("bob").post(
        reverse("loyalty:coupon_use", args=[coupon.code]),
        {"order_no": "POS-77"},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert "This coupon has expired." in page and 'value="POS-77"' in page
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"


def test_an_analyst_cannot_mark_used_or_cancel(login_as):
    coupon = _coupon()
    client = login_as("carol")
    assert client.post(reverse("loyalty:coupon_use", args=[coupon.code])).status_code == 403
    assert client.post(reverse("loyalty:coupon_void", args=[coupon.code])).status_code == 403


def test_cancelling_needs_a_reason_then_gives_the_points_back(login_as):
    coupon = _coupon(points=500)
    client = login_as("bob")
    url = reverse("loyalty:coupon_void", args=[coupon.code])
    empty = client.post(url, {"reason": "", "refund": "on"}).content.decode()
    assert "Say why the coupon is cancelled." in empty
    client.post(url, {"reason": "會員誤兌", "refund": "on"})
    coupon.refresh_from_db()
    coupon.account.refresh_from_db()
    assert coupon.status == "void" and coupon.account.balance == 500


# --- Redeeming for a member ---------------------------------------------------------------------


def test_a_marketer_redeems_a_reward_for_a_member_once(login_as):
    member, account = member_with_points(300)
    item = reward(points_price=200, stock=3)
    client = login_as("bob")
    url = reverse("loyalty:member_redeem", args=[member.member_no])
    form = client.get(url).content.decode()
    key = re.search(r'name="key" value="([0-9a-f]+)"', form).group(1)
    first = client.post(url, {"reward": item.pk, "key": key})
    again = client.post(url, {"reward": item.pk, "key": key})  # a double click
    coupon = Coupon.objects.get()
    assert (
        first["Location"]
        == again["Location"]
        == reverse("loyalty:coupon_detail", args=[coupon.code])
    )
    account.refresh_from_db()
    assert account.balance == 100


def test_not_enough_points_is_said_on_the_redeem_page(login_as):
    member, _account = member_with_points(50)
    item = reward(points_price=200)
    url = reverse("loyalty:member_redeem", args=[member.member_no])
    response = login_as("bob").post(url, {"reward": item.pk, "key": "abc"})
    page = response.content.decode()
    assert "Not enough points: 50 available, 200 asked for." in page
    assert f'value="{item.pk}" selected' in page
    assert not Coupon.objects.exists()


def test_an_analyst_cannot_redeem(login_as):
    member, _account = member_with_points(500)
    url = reverse("loyalty:member_redeem", args=[member.member_no])
    assert login_as("carol").get(url).status_code == 403


def test_the_coupon_list_is_a_fixed_number_of_queries(login_as, django_assert_num_queries):
    for _i in range(3):
        coupon = _coupon()
    coupon_use(code=coupon.code, via=Coupon.UsedVia.PAGE)
    client = login_as("carol")
    client.get(reverse("loyalty:coupon_lookup"))
    with django_assert_num_queries(6):  # session, user, 2 perms, role, page (no COUNT)
        response = client.get(reverse("loyalty:coupon_lookup"))
    page = response.content.decode()
    assert page.count('data-testid="coupon-row"') == 3
    assert "林美玲" not in page and "林**" in page  # the Analyst sees names masked


def test_the_coupon_list_pages_by_keyset_newest_first(login_as, settings):
    from loyalty import views_rewards

    coupons = [_coupon() for _i in range(5)]
    client = login_as("carol")
    url = reverse("loyalty:coupon_lookup")
    original, views_rewards.PAGE_SIZE = views_rewards.PAGE_SIZE, 3
    try:
        first = client.get(url)
        second = client.get(url, {"before": first.context["page"].next_before})
    finally:
        views_rewards.PAGE_SIZE = original
    assert [c.pk for c in first.context["page"].object_list] == [c.pk for c in coupons[:1:-1]]
    assert [c.pk for c in second.context["page"].object_list] == [c.pk for c in coupons[1::-1]]
    assert second.context["page"].next_before is None
    assert 'data-testid="coupons-older"' in first.content.decode()
    assert 'data-testid="coupons-newest"' in second.content.decode()


def test_an_unknown_code_in_a_link_is_a_404(login_as):
    client = login_as("bob")
    assert client.get(reverse("loyalty:coupon_detail", args=["ZZZZ2222ZZZZ"])).status_code == 404
    assert client.get(reverse("loyalty:coupon_qr", args=["ZZZZ2222ZZZZ"])).status_code == 404


def test_the_points_export_names_a_coupon_without_giving_its_code():
    from loyalty.resources import PointsHistoryResource

    coupon = _coupon()
    entries = PointsTransaction.objects.filter(coupon=coupon)
    exported = PointsHistoryResource().export(entries).csv
    assert coupon.code not in exported and coupon.code[0] in exported
