"""`manage.py seed_demo`: realistic, deterministic, batched demo data."""

import hashlib
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Q

from crm import normalize
from crm.demo import ERROR_NOT_EMPTY
from crm.management.commands.seed_demo import SKIPPED_NOT_EMPTY
from crm.models import Consent, Identity, Member, Order, Store, Tag, Touchpoint
from omnichannel.channels import ONLINE_SALES_CHANNELS, Channel
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MEMBERS = 300
SEED = 7

NORMAL_FORM = {
    Identity.Kind.PHONE: normalize.normalize_phone,
    Identity.Kind.EMAIL: normalize.normalize_email,
    Identity.Kind.LINE_USER_ID: normalize.normalize_line_user_id,
    Identity.Kind.POS_CARD: normalize.normalize_card,
    Identity.Kind.EINVOICE_CARRIER: normalize.normalize_einvoice_carrier,
}


def seed(**options: object) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **{"members": MEMBERS, "seed": SEED, **options})
    return out.getvalue()


def digest() -> str:
    """A fingerprint of what the seed decides (not of dates, which follow the clock)."""
    h = hashlib.sha256()
    for row in Member.objects.order_by("member_no").values_list(
        "member_no", "name", "gender", "acquisition_channel", "home_store__code"
    ):
        h.update(repr(row).encode())
    for row in Identity.objects.order_by("kind", "value").values_list(
        "member__member_no", "kind", "value"
    ):
        h.update(repr(row).encode())
    for row in Order.objects.order_by("member__member_no", "amount_twd", "channel").values_list(
        "member__member_no", "channel", "amount_twd", "status"
    ):
        h.update(repr(row).encode())
    return h.hexdigest()


def wipe() -> None:
    Order.objects.all().delete()  # orders first: a store is protected while orders name it
    Member.objects.all().delete()


@pytest.fixture
def seeded() -> str:
    return seed()


def test_seed_creates_the_members_asked_for_with_numbers_from_one(seeded):
    assert Member.objects.count() == MEMBERS
    numbers = set(Member.objects.values_list("member_no", flat=True))
    assert numbers == {f"M{n:07d}" for n in range(1, MEMBERS + 1)}
    assert "members 300/300" in seeded


def test_seed_creates_a_dozen_stores_in_several_cities(seeded):
    assert Store.objects.count() == 12
    assert Store.objects.values("city").distinct().count() >= 6
    assert Store.objects.filter(code="TPE01", name="台北信義店").exists()


def test_members_have_chinese_names_and_some_lack_a_birthday(seeded):
    assert all(
        re.fullmatch(r"[\u4e00-\u9fff]{2,4}", name)
        for name in Member.objects.values_list("name", flat=True)
    )
    assert Member.objects.filter(birthday__isnull=True).exists()
    assert Member.objects.filter(birthday__isnull=False).count() > MEMBERS // 2


def test_every_phone_is_a_taiwan_mobile_in_e164(seeded):
    phones = list(Identity.objects.filter(kind="phone").values_list("value", flat=True))

    assert len(phones) > MEMBERS * 0.9
    assert all(re.fullmatch(r"\+8869\d{8}", phone) for phone in phones)


def test_every_identifier_is_in_its_normal_form(seeded):
    for kind, value in Identity.objects.values_list("kind", "value"):
        if kind in NORMAL_FORM:
            assert NORMAL_FORM[kind](value) == value, (kind, value)
    kinds = set(Identity.objects.values_list("kind", flat=True))
    assert {"phone", "email", "line_user_id", "pos_card", "einvoice_carrier"} <= kinds


def test_no_identifier_belongs_to_two_members(seeded):
    shared = Identity.objects.values("kind", "value").annotate(n=Count("member", distinct=True))

    assert not shared.filter(n__gt=1).exists()
    assert Identity.objects.count() == Identity.objects.values("kind", "value").distinct().count()


def test_a_good_share_of_buyers_bought_online_and_offline(seeded):
    buyers = Member.objects.annotate(
        online=Count("orders", filter=Q(orders__channel__in=ONLINE_SALES_CHANNELS)),
        offline=Count("orders", filter=Q(orders__channel=Channel.STORE)),
    ).filter(Q(online__gt=0) | Q(offline__gt=0))

    omo = buyers.filter(online__gt=0, offline__gt=0).count()

    assert 0.2 < omo / buyers.count() < 0.4


def test_orders_cover_channels_with_anonymous_sales_and_about_four_per_member(seeded):
    channels = set(Order.objects.values_list("channel", flat=True))
    anonymous = Order.objects.filter(member__isnull=True)

    assert {"store", "web", "marketplace", "app"} <= channels
    assert anonymous.exists()
    assert set(anonymous.values_list("channel", flat=True)) == {"store"}
    assert 3 <= Order.objects.count() / MEMBERS <= 6
    assert Order.objects.filter(status="cancelled").exists()


def test_a_pos_return_is_its_own_row_naming_its_returned_sale(seeded):
    refunds = Order.objects.filter(amount_twd__lt=0).select_related("returns_order")

    assert refunds.exists()
    for refund in refunds:
        sale = refund.returns_order
        assert (refund.channel, refund.status) == ("store", "returned")
        assert (sale.status, sale.amount_twd) == ("returned", -refund.amount_twd)
        assert refund.returns_external_no == sale.external_no
        assert refund.placed_at > sale.placed_at


def test_order_numbers_have_the_shapes_of_the_source_files(seeded):
    shapes = {
        "store": r"[A-Z]{3}\d{2}-\d{8}-\d{4}",
        "web": r"W\d{13}",
        "app": r"APP\d{13}",
        "marketplace": r"(shopee:\d{6}[0-9A-Z]{8}|momo:\d{14})",
    }
    for channel, number in Order.objects.values_list("channel", "external_no"):
        assert re.fullmatch(shapes[channel], number), (channel, number)


def test_consent_tags_and_touchpoints_are_seeded(seeded):
    assert set(Consent.objects.values_list("channel", flat=True)) == {
        "line",
        "email",
        "sms",
        "push",
    }
    assert Consent.objects.filter(state="opted_out").exists()
    assert Tag.objects.filter(name="VIP", members__isnull=False).exists()
    assert set(Touchpoint.objects.values_list("kind", flat=True)) == {"store_visit", "page_view"}


def test_the_same_seed_gives_the_same_data():
    seed()
    first = digest()
    wipe()

    seed()

    assert digest() == first


def test_another_seed_gives_other_data():
    seed()
    first = digest()
    wipe()

    seed(seed=SEED + 1)

    assert digest() != first


def test_if_empty_leaves_a_filled_database_alone(seeded):
    before = digest()

    out = seed(if_empty=True, members=50)

    assert SKIPPED_NOT_EMPTY in out
    assert Member.objects.count() == MEMBERS
    assert digest() == before


def test_a_filled_database_is_refused_without_append():
    MemberFactory()

    with pytest.raises(CommandError, match=re.escape(ERROR_NOT_EMPTY)):
        seed()

    assert Member.objects.count() == 1


def test_append_continues_after_the_highest_member_number(seeded):
    seed(append=True, members=50, seed=SEED + 1)

    assert Member.objects.count() == MEMBERS + 50
    assert Member.objects.order_by("-member_no").first().member_no == "M0000350"
    assert not Identity.objects.values("kind", "value").annotate(n=Count("pk")).filter(n__gt=1)
    numbers = Order.objects.values("channel", "external_no").annotate(n=Count("pk"))
    assert not numbers.filter(n__gt=1).exists()


def test_seeding_is_batched_not_one_query_per_row(django_assert_max_num_queries):
    # 300 members bring some 3,000 rows; per-row inserts would need thousands of queries.
    # Measured: 15 on PostgreSQL, 40 on SQLite (which caps the parameters per statement).
    with django_assert_max_num_queries(60):
        seed(chunk_size=MEMBERS)
