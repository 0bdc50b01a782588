"""Every segment rule against answers counted by hand on a small fixed set of members.

The people (all as of NOW, 2026-11-25 12:00 Asia/Taipei):

    A  female, born 1990-03-15 (36), home S1, acquired in store, joined 400 days ago;
       phone, email, LINE; email opted in then out, LINE in; tag vip;
       store NT$1,000 10 days ago, web NT$500 20 days ago                 → OMO
    B  male, born 2000-03-02 (26), home S2, acquired on the web, joined 10 days ago;
       email; email opted in; tags vip + newsletter;
       web NT$3,000 5 days ago, web NT$2,000 100 days ago, a cancelled web NT$9,999
                                                                          → online only
    C  female, born 1960-12-25 (65), home S1, store, joined 1,000 days ago; phone;
       store NT$200 300 days ago, store NT$300 400 days ago              → in store only
    D  no gender, no birthday, no home store, no acquisition channel, joined 5 days ago;
       nothing else, and no MemberStats row at all                       → no purchase
    E  male, born 1985-11-26 (40, 41 tomorrow), home S2, marketplace, joined 200 days ago;
       phone, LINE; LINE opted out then in;
       marketplace NT$800 40 days ago, store NT$700 35 days ago, a store return of
       -NT$200 29 days ago                                                → OMO
    G  female, born 2010-06-01 (16), home S2, store, joined 60 days ago; SMS opted out and
       in at the same moment (the later row wins); a MemberStats row of zeros → no purchase
    F  merged into A (tag vip, a store sale): never in a segment.

RFM over the four buyers in 365 days (A, B, C, E): R by last purchase C<E<A<B scores
1, 2, 3, 4; F by orders in 365 days C=1, A=B=E=2 scores 1, 2, 2, 2. Groups: A (R3 F2) and
B (R4 F2, not New: F is not 1) Potential; E (R2 F2) Hibernating; C (R1 F1) Lost.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.models import Member, MemberStats
from crm.segments import segment_count, segment_member_ids, segment_queryset
from crm.services.stats import member_stats_refresh, member_stats_rfm_score
from tests.factories import (
    ConsentFactory,
    IdentityFactory,
    MemberFactory,
    OrderFactory,
    StoreFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db
TAIPEI = ZoneInfo("Asia/Taipei")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=TAIPEI)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def day(days_ago: int) -> str:
    return ago(days_ago).date().isoformat()


@pytest.fixture
def people():
    s1, s2 = StoreFactory(code="S1"), StoreFactory(code="S2")

    def member(no, *, gender, birthday, store, channel, joined):
        return MemberFactory(
            member_no=no,
            gender=gender,
            birthday=birthday,
            home_store=store,
            acquisition_channel=channel,
            joined_at=ago(joined),
        )

    a = member("A", gender="female", birthday="1990-03-15", store=s1, channel="store", joined=400)
    b = member("B", gender="male", birthday="2000-03-02", store=s2, channel="web", joined=10)
    c = member("C", gender="female", birthday="1960-12-25", store=s1, channel="store", joined=1000)
    member("D", gender="", birthday=None, store=None, channel="", joined=5)
    e = member(
        "E", gender="male", birthday="1985-11-26", store=s2, channel="marketplace", joined=200
    )
    g = member("G", gender="female", birthday="2010-06-01", store=s2, channel="store", joined=60)
    f = MemberFactory(member_no="F", status=Member.Status.MERGED, merged_into=a, home_store=s1)

    for person, kinds in ((a, ["phone", "email", "line_user_id"]), (b, ["email"]), (c, ["phone"])):
        for kind in kinds:
            IdentityFactory(member=person, kind=kind)
    IdentityFactory(member=e, kind="phone")
    IdentityFactory(member=e, kind="line_user_id")

    ConsentFactory(member=a, channel="email", at=ago(10))
    ConsentFactory(member=a, channel="email", at=ago(5), opted_out=True)
    ConsentFactory(member=a, channel="line", at=ago(5))
    ConsentFactory(member=b, channel="email", at=ago(3))
    ConsentFactory(member=e, channel="line", at=ago(50), opted_out=True)
    ConsentFactory(member=e, channel="line", at=ago(20))
    ConsentFactory(member=g, channel="sms", at=ago(7), opted_out=True)
    ConsentFactory(member=g, channel="sms", at=ago(7))  # same moment, written later: wins

    vip = TagFactory(name="vip", members=[a, b, f])
    newsletter = TagFactory(name="newsletter", members=[b])

    def sale(person, channel, amount, days_ago, **kwargs):
        OrderFactory(
            member=person, channel=channel, amount_twd=amount, placed_at=ago(days_ago), **kwargs
        )

    sale(a, "store", 1_000, 10)
    sale(a, "web", 500, 20)
    sale(b, "web", 3_000, 5)
    sale(b, "web", 2_000, 100)
    sale(b, "web", 9_999, 3, status="cancelled")
    sale(c, "store", 200, 300)
    sale(c, "store", 300, 400)
    sale(e, "marketplace", 800, 40)
    sale(e, "store", 700, 35, external_no="E-S-1")
    sale(e, "store", -200, 29, returns_external_no="E-S-1")
    sale(f, "store", 5_000, 1)
    member_stats_refresh(member_ids=[a.pk, b.pk, c.pk, e.pk, g.pk], at=NOW)
    member_stats_rfm_score()
    return {"s1": s1.pk, "s2": s2.pk, "vip": vip.pk, "newsletter": newsletter.pk}


def matching(definition) -> str:
    members = segment_queryset(definition, now=NOW)
    return "".join(sorted(members.values_list("member_no", flat=True)))


def one(rule: str, operator: str, value=None, period=None) -> dict:
    condition = {"rule": rule, "operator": operator, "value": value}
    if period is not None:
        condition["period"] = period
    return {"op": "and", "rules": [condition]}


CASES = [
    # profile
    ("gender", "is", "female", None, "ACG"),
    ("gender", "is_not", "female", None, "BDE"),
    ("gender", "in", ["male", ""], None, "BDE"),
    ("gender", "is", "", None, "D"),
    ("age", "between", [26, 40], None, "ABE"),
    ("age", "gte", 41, None, "C"),
    ("age", "lte", 40, None, "ABEG"),
    ("age", "eq", 16, None, "G"),
    ("birthday_month", "in", [3], None, "AB"),
    ("birthday_month", "not_in", [3], None, "CDEG"),
    ("birthday_month", "this_month", None, None, "E"),
    ("birthday_month", "next_month", None, None, "C"),
    ("acquisition_channel", "is", "web", None, "B"),
    ("acquisition_channel", "is", "", None, "D"),
    ("acquisition_channel", "in", ["store", "marketplace"], None, "ACEG"),
    ("acquisition_channel", "not_in", ["store"], None, "BDE"),
    ("joined", "within_last_days", 30, None, "BD"),
    ("joined", "more_than_days_ago", 365, None, "AC"),
    ("joined", "between", [day(200), day(60)], None, "EG"),
    ("joined", "before", day(399), None, "AC"),
    ("joined", "on_or_after", day(10), None, "BD"),
    # identifiers and consent
    ("identifier", "has", "email", None, "AB"),
    ("identifier", "has", "line_user_id", None, "AE"),
    ("identifier", "has_not", "phone", None, "BDG"),
    ("consent", "opted_in", "email", None, "B"),
    ("consent", "opted_out", "email", None, "A"),
    ("consent", "not_opted_in", "email", None, "ACDEG"),
    ("consent", "no_decision", "email", None, "CDEG"),
    ("consent", "opted_in", "line", None, "AE"),
    ("consent", "opted_in", "sms", None, "G"),
    ("consent", "opted_out", "sms", None, ""),
    # purchases, ever (MemberStats; D has no row and counts as zeros)
    ("spend", "gte", 1_000, None, "ABE"),
    ("spend", "lte", 500, None, "CDG"),
    ("spend", "eq", 0, None, "DG"),
    ("spend", "between", [500, 1_500], None, "ACE"),
    ("orders", "gte", 2, None, "ABCE"),
    ("orders", "lte", 1, None, "DG"),
    # purchases in a period (aggregated from orders, set-wise)
    ("spend", "gte", 1_500, {"last_days": 30}, "AB"),
    ("spend", "lte", 0, {"last_days": 30}, "CDEG"),  # E: only a return, net -200
    ("spend", "between", [1_000, 2_000], {"last_days": 30}, "A"),
    ("spend", "gte", 1_000, {"from": day(40), "to": day(30)}, "E"),
    ("spend", "gte", 1, {"from": day(100)}, "ABE"),
    ("spend", "gte", 1, {"to": day(300)}, "C"),
    ("orders", "gte", 1, {"last_days": 30}, "AB"),
    ("orders", "eq", 0, {"last_days": 30}, "CDEG"),
    ("orders", "eq", 2, {"last_days": 30}, "A"),
    ("orders", "between", [1, 1], {"last_days": 365}, "C"),
    # recency
    ("recency", "gte", 180, None, "C"),
    ("recency", "lte", 10, None, "AB"),
    ("recency", "between", [30, 400], None, "CE"),
    ("recency", "eq", 35, None, "E"),
    # channels
    ("purchased_in", "any_of", ["store"], None, "ACE"),
    ("purchased_in", "all_of", ["store", "web"], None, "A"),
    ("purchased_in", "none_of", ["store"], None, "BDG"),
    ("purchased_in", "any_of", ["marketplace", "app"], None, "E"),
    ("purchased_in", "any_of", ["web"], {"last_days": 30}, "AB"),
    ("purchased_in", "any_of", ["store"], {"last_days": 30}, "A"),  # E's return is no sale
    ("purchased_in", "all_of", ["store", "marketplace"], {"last_days": 60}, "E"),
    ("purchased_in", "none_of", ["store"], {"last_days": 30}, "BCDEG"),
    # OMO
    ("shopper_type", "is", "omo", None, "AE"),
    ("shopper_type", "is", "online_only", None, "B"),
    ("shopper_type", "is", "offline_only", None, "C"),
    ("shopper_type", "is", "none", None, "DG"),
    ("shopper_type", "is_not", "omo", None, "BCDG"),
    ("shopper_type", "in", ["online_only", "offline_only"], None, "BC"),
    # RFM
    ("rfm_group", "is", "potential", None, "AB"),
    ("rfm_group", "is", "hibernating", None, "E"),
    ("rfm_group", "is", "lost", None, "C"),
    ("rfm_group", "is", "champions", None, ""),
    ("rfm_group", "is", "none", None, "DG"),
    ("rfm_group", "is_not", "potential", None, "CDEG"),
]


@pytest.mark.parametrize(
    ("rule", "operator", "value", "period", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}" for c in CASES],
)
def test_rule_matches_the_hand_counted_members(people, rule, operator, value, period, expected):
    assert matching(one(rule, operator, value, period)) == expected


def test_store_and_tag_rules_take_ids(people):
    assert matching(one("home_store", "is", people["s1"])) == "AC"
    assert matching(one("home_store", "not_in", [people["s1"]])) == "BDEG"
    assert matching(one("home_store", "in", [people["s1"], people["s2"]])) == "ABCEG"
    assert matching(one("tags", "has_any", [people["vip"]])) == "AB"  # F merged away
    assert matching(one("tags", "has_all", [people["vip"], people["newsletter"]])) == "B"
    assert matching(one("tags", "has_none", [people["vip"]])) == "CDEG"
    assert matching(one("tags", "has_any", [999_999])) == ""  # a deleted tag matches no one


def test_rfm_groups_are_the_hand_counted_ones(people):
    groups = dict(MemberStats.objects.values_list("member__member_no", "rfm_group"))
    scores = {
        no: (r, f)
        for no, r, f in MemberStats.objects.values_list(
            "member__member_no", "rfm_recency", "rfm_frequency"
        )
    }
    assert groups == {"A": "potential", "B": "potential", "C": "lost", "E": "hibernating", "G": ""}
    assert scores == {"A": (3, 2), "B": (4, 2), "C": (1, 1), "E": (2, 2), "G": (None, None)}


def test_groups_nest_and_or(people):
    definition = {
        "op": "or",
        "rules": [
            {
                "op": "and",
                "rules": [
                    {"rule": "gender", "operator": "is", "value": "female"},
                    {"rule": "shopper_type", "operator": "is", "value": "omo"},
                ],
            },
            {"rule": "tags", "operator": "has_any", "value": [people["vip"]]},
            {"rule": "shopper_type", "operator": "is", "value": "none"},
        ],
    }
    assert matching(definition) == "ABDG"
    narrowed = {
        "op": "and",
        "rules": [definition, {"rule": "age", "operator": "lte", "value": 30}],
    }
    assert matching(narrowed) == "BG"


def test_an_empty_definition_is_every_active_member(people):
    assert matching({"op": "and", "rules": []}) == "ABCDEG"
    assert matching({"op": "or", "rules": [{"op": "and", "rules": []}]}) == "ABCDEG"


def test_member_ids_come_in_pk_order(people):
    expected = sorted(
        Member.objects.filter(member_no__in=["A", "C", "E"]).values_list("pk", flat=True)
    )
    ids = segment_member_ids(one("purchased_in", "any_of", ["store"]), now=NOW, chunk_size=2)
    assert list(ids) == expected


def test_a_count_is_one_query(people, django_assert_num_queries):
    definition = {
        "op": "or",
        "rules": [
            {
                "op": "and",
                "rules": [
                    {"rule": "gender", "operator": "is_not", "value": "male"},
                    {"rule": "age", "operator": "between", "value": [20, 70]},
                    {"rule": "birthday_month", "operator": "this_month"},
                    {"rule": "home_store", "operator": "in", "value": [people["s1"]]},
                    {"rule": "joined", "operator": "within_last_days", "value": 365},
                    {"rule": "tags", "operator": "has_all", "value": [people["vip"]]},
                ],
            },
            {
                "op": "and",
                "rules": [
                    {"rule": "consent", "operator": "opted_in", "value": "line"},
                    {"rule": "identifier", "operator": "has", "value": "phone"},
                    {
                        "rule": "spend",
                        "operator": "lte",
                        "value": 5000,
                        "period": {"last_days": 90},
                    },
                    {"rule": "orders", "operator": "gte", "value": 1},
                    {"rule": "recency", "operator": "lte", "value": 60},
                    {"rule": "purchased_in", "operator": "none_of", "value": ["app"]},
                    {"rule": "shopper_type", "operator": "is", "value": "omo"},
                    {"rule": "rfm_group", "operator": "in", "value": ["hibernating", "lost"]},
                ],
            },
        ],
    }
    with django_assert_num_queries(1):
        count = segment_count(definition, now=NOW)
    assert count == 1  # E


def test_inactive_members_never_match(people):
    Member.objects.filter(member_no="A").update(status=Member.Status.ERASED)
    assert matching(one("gender", "is", "female")) == "CG"
