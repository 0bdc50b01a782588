"""`manage.py seed_demo`: the brand's files for N people, imported through the real services."""

import csv
import hashlib
import re
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Q
from django.utils import timezone

from crm import demo, normalize
from crm.demo import ERROR_NOT_EMPTY, demo_seed
from crm.management.commands.seed_demo import SKIPPED_NOT_EMPTY
from crm.models import Consent, Identity, Member, MergeLog, Order, Store, Tag, Touchpoint
from crm.source_files import HEADERS
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
    Identity.Kind.MARKETPLACE_BUYER: normalize.normalize_marketplace_buyer,
}


def seed(**options: object) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **{"members": MEMBERS, "seed": SEED, **options})
    return out.getvalue()


def digest() -> str:
    """A fingerprint of what the seed decides (not of dates, which follow the clock)."""
    h = hashlib.sha256()
    for row in Member.objects.order_by("member_no").values_list(
        "member_no", "name", "gender", "status", "acquisition_channel", "home_store__code"
    ):
        h.update(repr(row).encode())
    for row in Identity.objects.order_by("kind", "value").values_list(
        "member__member_no", "kind", "value"
    ):
        h.update(repr(row).encode())
    for row in Order.objects.order_by("channel", "external_no").values_list(
        "member__member_no", "channel", "external_no", "amount_twd", "status"
    ):
        h.update(repr(row).encode())
    return h.hexdigest()


def wipe() -> None:
    Order.objects.all().delete()  # orders first: a store is protected while orders name it
    MergeLog.objects.all().delete()
    Member.objects.filter(merged_into__isnull=False).delete()
    Member.objects.all().delete()


@pytest.fixture
def seeded():
    return demo_seed(members=MEMBERS, seed=SEED)


def active_members():
    return Member.objects.filter(status=Member.Status.ACTIVE)


def test_every_person_is_one_active_member_with_the_brands_number(seeded):
    assert seeded.plan.people == MEMBERS == seeded.members
    numbers = set(active_members().values_list("member_no", flat=True))
    assert numbers == {f"M{n:07d}" for n in range(1, MEMBERS + 1)}


def test_people_in_the_member_list_twice_are_merged_by_a_web_order(seeded):
    duplicates = seeded.plan.duplicates
    merged = Member.objects.filter(status=Member.Status.MERGED)

    assert duplicates > 0
    assert merged.count() == duplicates == MergeLog.objects.count() == seeded.merges
    # The app registrations got the numbers after the people's and now point to the store one.
    assert all(int(no[1:]) > MEMBERS for no in merged.values_list("member_no", flat=True))
    for log in MergeLog.objects.all():
        kinds = {key.partition(":")[0] for key in log.matched_keys}
        assert {"phone", "email"} <= kinds, log.matched_keys
        assert log.survivor.status == Member.Status.ACTIVE
    assert not Consent.objects.filter(member__status=Member.Status.MERGED).exists()


def test_the_same_people_buy_in_stores_and_online_at_the_planned_rate(seeded):
    plan = seeded.plan
    buyers = active_members().annotate(
        online=Count("orders", filter=Q(orders__channel__in=ONLINE_SALES_CHANNELS)),
        store=Count("orders", filter=Q(orders__channel=Channel.STORE)),
    )

    both = buyers.filter(online__gt=0, store__gt=0).count()

    assert buyers.filter(store__gt=0).count() == plan.store_buyers
    assert buyers.filter(online__gt=0).count() == plan.online_buyers
    assert both == plan.store_and_online
    assert abs(both / MEMBERS - demo.SHARE_STORE_AND_ONLINE) < 0.08


def test_every_order_written_landed_and_anonymous_ones_have_no_member(seeded):
    plan = seeded.plan
    anonymous = Order.objects.filter(member__isnull=True)

    assert Order.objects.count() == plan.orders == seeded.orders
    assert anonymous.count() == plan.anonymous_orders > 0
    assert set(anonymous.values_list("channel", flat=True)) == {"store", "marketplace"}
    assert Order.objects.filter(status="cancelled").count() == plan.cancelled > 0
    assert {"store", "web", "marketplace", "app"} == set(
        Order.objects.values_list("channel", flat=True)
    )
    assert 2 <= Order.objects.count() / MEMBERS <= 6


def test_the_imports_fail_no_row_and_warn_of_masked_phones(seeded):
    results = dict(seeded.imports)

    assert [name for name, _ in demo.DEMO_FILES] == list(results)
    assert all(result.failed == 0 for result in results.values())
    assert results["marketplace_orders.csv"].warnings > 0
    assert sum(result.members_created for result in results.values()) == MEMBERS + (
        seeded.plan.duplicates
    )


def test_files_have_the_layouts_and_spellings_of_the_formats_file(tmp_path):
    demo_seed(members=MEMBERS, seed=SEED, files_dir=tmp_path)

    text = ""
    for name, preset in demo.DEMO_FILES:
        with open(tmp_path / name, encoding="utf-8-sig", newline="") as file:
            assert tuple(next(csv.reader(file))) == HEADERS[preset]
        text += (tmp_path / name).read_text(encoding="utf-8-sig")
    for needle in (",+886 9", ",00886", ",886", "０９", "＠", "******", "退貨", "已取消", '"1,'):
        assert needle in text, needle
    assert re.search(r",\d{2}/\d{2}/\d{2},", text)  # a Minguo birthday (79/02/28)
    assert ",門市," in text  # a join channel written as its Chinese label
    assert (tmp_path / demo.APP_FEED).stat().st_size > 0


def test_a_dozen_stores_in_several_cities_and_home_stores_from_store_orders(seeded):
    assert Store.objects.count() == 12
    assert Store.objects.values("city").distinct().count() >= 6
    assert Store.objects.filter(code="TPE01", name="台北信義店").exists()
    store_buyers = active_members().filter(orders__channel=Channel.STORE).distinct()
    assert store_buyers.filter(home_store__isnull=True).count() == 0
    assert not active_members().exclude(pk__in=store_buyers).exclude(home_store=None).exists()


def test_members_have_chinese_names_and_some_lack_a_birthday(seeded):
    members = active_members()
    assert all(
        re.fullmatch(r"[\u4e00-\u9fff]{3}", name) for name in members.values_list("name", flat=True)
    )
    assert members.filter(birthday__isnull=True).exists()
    assert members.filter(birthday__isnull=False).count() > MEMBERS // 2


def test_every_identifier_is_in_its_normal_form(seeded):
    for kind, value in Identity.objects.values_list("kind", "value"):
        if kind in NORMAL_FORM:
            assert NORMAL_FORM[kind](value) == value, (kind, value)
    phones = Identity.objects.filter(kind="phone").values_list("value", flat=True)
    assert all(re.fullmatch(r"\+8869\d{8}", phone) for phone in phones)
    kinds = set(Identity.objects.values_list("kind", flat=True))
    assert kinds == {
        "phone",
        "email",
        "line_user_id",
        "pos_card",
        "einvoice_carrier",
        "web_customer_id",
        "marketplace_buyer",
    }


def test_pos_returns_name_their_sale_whole_ones_reverse_it(seeded):
    refunds = Order.objects.filter(amount_twd__lt=0).select_related("returns_order")

    assert refunds.count() == seeded.plan.returns > 0
    for refund in refunds:
        sale = refund.returns_order
        assert refund.channel == "store"
        assert refund.returns_external_no == sale.external_no
        assert refund.placed_at > sale.placed_at
        whole = -refund.amount_twd == sale.amount_twd
        assert sale.status == refund.status == ("returned" if whole else "placed")


def test_order_numbers_have_the_shapes_of_the_source_files(seeded):
    shapes = {
        "store": r"[A-Z]{3}\d{2}-\d{8}-\d{4}",
        "web": r"W\d{13}",
        "app": r"APP\d{13}",
        "marketplace": r"(shopee:\d{6}[0-9A-Z]{8}|momo:\d{14})",
    }
    for channel, number in Order.objects.values_list("channel", "external_no"):
        assert re.fullmatch(shapes[channel], number), (channel, number)


def test_consent_has_every_channel_and_a_history_of_changes(seeded):
    assert set(Consent.objects.values_list("channel", flat=True)) == {
        "line",
        "email",
        "sms",
        "push",
    }
    changed = (
        Consent.objects.values("member", "channel").annotate(n=Count("pk")).filter(n__gt=1).count()
    )
    assert changed > 0
    assert Consent.objects.filter(state="opted_out").exists()


def test_tags_and_touchpoints_are_seeded(seeded):
    assert Tag.objects.filter(name="VIP", members__isnull=False).exists()
    assert Touchpoint.objects.count() == seeded.plan.touchpoints == seeded.touchpoints
    assert set(Touchpoint.objects.values_list("kind", flat=True)) == {"store_visit", "page_view"}
    assert not Touchpoint.objects.exclude(member__status=Member.Status.ACTIVE).exists()


def test_the_same_seed_gives_the_same_data():
    seed()
    first = digest()
    wipe()

    seed()

    assert digest() == first


def test_a_day_later_the_same_seed_writes_the_same_data_a_day_later(tmp_path):
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = demo.demo_files_write(members=MEMBERS, seed=SEED, folder=tmp_path / "a", now=midnight)
    tomorrow = demo.demo_files_write(
        members=MEMBERS, seed=SEED, folder=tmp_path / "b", now=midnight + timedelta(days=1)
    )

    assert tomorrow == today
    first, second = (members_csv(tmp_path / name) for name in ("a", "b"))
    joined = first[0].index("加入日期")
    for row_a, row_b in zip(first[1:], second[1:], strict=True):
        day_a, day_b = (date.fromisoformat(row[joined].replace("/", "-")) for row in (row_a, row_b))
        assert day_b - day_a == timedelta(days=1)
        assert row_a[:4] + row_a[5:joined] == row_b[:4] + row_b[5:joined]  # but the birthday


def members_csv(folder) -> list[list[str]]:
    with open(folder / "members.csv", encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


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
    assert active_members().count() == MEMBERS
    assert digest() == before


def test_a_filled_database_is_refused():
    MemberFactory()

    with pytest.raises(CommandError, match=re.escape(ERROR_NOT_EMPTY)):
        seed()

    assert Member.objects.count() == 1


def test_the_command_prints_each_step_and_a_summary():
    out = seed()

    assert "members.csv: 300 rows" in out
    assert "app_feed.jsonl:" in out
    assert f"Seeded {MEMBERS} members for {MEMBERS} people" in out


def test_seeding_is_batched_not_one_query_per_row(django_assert_max_num_queries):
    # 300 people bring some 1,500 rows in 7 files; per-row writes would need thousands of
    # queries. The imports need a fixed number per batch, and each merge a dozen or so.
    with django_assert_max_num_queries(600):
        seed()


def test_demo_members_have_rfm_groups_and_ready_made_segments_are_counted(seeded):
    from crm.models import MemberStats, Segment

    assert MemberStats.objects.exclude(rfm_group="").exists()
    ready_made = Segment.objects.exclude(ready_made="")
    assert ready_made.exists()
    assert not ready_made.filter(counted_at__isnull=True).exists()
    assert ready_made.filter(member_count__gt=0).exists()
