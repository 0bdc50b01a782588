"""The member list (/members/): search in any spelling, filters, keyset paging and sorting."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Consent, Identity, MemberStats
from crm.selectors import (
    MEMBER_SORTS,
    InvalidCursor,
    MemberListFilters,
    member_list_page,
    member_list_queryset,
)
from tests.factories import (
    ConsentFactory,
    IdentityFactory,
    MemberFactory,
    StoreFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db


def _found(**filters) -> set[str]:
    members = member_list_queryset(filters=MemberListFilters(**filters))
    return set(members.values_list("member_no", flat=True))


@pytest.fixture
def meiling():
    member = MemberFactory(member_no="M0000001", name="陳美玲")
    IdentityFactory(member=member, raw="0912-345-678")
    IdentityFactory(member=member, email=True, raw="MeiLing.Chen@Example.com")
    IdentityFactory(member=member, line=True, raw="U4af4980629" + "0" * 22)
    IdentityFactory(member=member, card=True, raw="a12345678")
    IdentityFactory(member=member, kind=Identity.Kind.EINVOICE_CARRIER, raw="/ABC+123")
    MemberFactory(member_no="M0000002", name="林志明")  # never found by meiling's keys
    return member


# --- Search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    ["0912345678", "0912-345-678", "+886 912 345 678", "+886912345678", "０９１２３４５６７８"],
)
def test_search_finds_a_phone_in_any_spelling(meiling, spelling):
    assert _found(q=spelling) == {"M0000001"}


@pytest.mark.parametrize(
    "term",
    [
        " meiling.chen@EXAMPLE.com ",  # email, any case
        "U4af4980629" + "0" * 22,  # LINE user id
        "A12345678",  # member card
        "/abc+123",  # e-invoice carrier, lower case
        "m0000001",  # member number, lower case
        "陳美",  # name prefix
    ],
)
def test_search_finds_every_identifier_kind(meiling, term):
    assert _found(q=term) == {"M0000001"}


def test_search_by_name_is_a_prefix_not_a_substring(meiling):
    assert _found(q="美玲") == set()


def test_search_never_finds_a_merged_member(meiling):
    survivor = MemberFactory(member_no="M0000003")
    meiling.status, meiling.merged_into = "merged", survivor
    meiling.save()

    assert _found(q="0912345678") == set()


def test_search_with_no_match_is_empty(meiling):
    assert _found(q="0987654321") == set()


# --- Filters ----------------------------------------------------------------------------------


def _stats(member, **figures):
    return MemberStats.objects.create(member=member, **figures)


def test_filter_by_acquisition_channel():
    MemberFactory(member_no="MS", acquisition_channel="store")
    MemberFactory(member_no="MW", online=True)

    assert _found(acquisition_channel="web") == {"MW"}


def test_filter_by_channels_bought_in_needs_every_channel():
    _stats(MemberFactory(member_no="OMO"), bought_store=True, bought_web=True)
    _stats(MemberFactory(member_no="STORE"), bought_store=True)
    MemberFactory(member_no="NOSTATS")  # no figures row: bought nowhere

    assert _found(bought=("store",)) == {"OMO", "STORE"}
    assert _found(bought=("store", "web")) == {"OMO"}


def test_filter_by_tag():
    vip = TagFactory(name="VIP", members=[MemberFactory(member_no="VIP1")])
    TagFactory(name="other", members=[MemberFactory(member_no="OTHER")])

    assert _found(tag_id=vip.pk) == {"VIP1"}


def test_filter_by_home_store():
    taipei = StoreFactory(code="TPE01")
    MemberFactory(member_no="TPE", home_store=taipei)
    MemberFactory(member_no="ELSE", home_store=StoreFactory(code="KHH01"))

    assert _found(home_store_id=taipei.pk) == {"TPE"}


@pytest.fixture
def consents():
    """IN: opted in; OUT: opted in, later out; BACK: out, later in again; NONE: email only."""
    now = timezone.now()
    members = {no: MemberFactory(member_no=no) for no in ("IN", "OUT", "BACK", "NONE")}
    ConsentFactory(member=members["IN"], channel="line", at=now - timedelta(days=3))
    ConsentFactory(member=members["OUT"], channel="line", at=now - timedelta(days=3))
    ConsentFactory(member=members["OUT"], channel="line", opted_out=True, at=now)
    ConsentFactory(member=members["BACK"], channel="line", opted_out=True, at=now - timedelta(1))
    ConsentFactory(member=members["BACK"], channel="line", at=now)
    ConsentFactory(member=members["NONE"], channel="email", opted_out=True, at=now)
    return members


@pytest.mark.parametrize(
    ("state", "expected"),
    [("opted_in", {"IN", "BACK"}), ("opted_out", {"OUT"}), ("none", {"NONE"})],
)
def test_filter_by_consent_reads_the_newest_decision(consents, state, expected):
    assert _found(consent_channel="line", consent_state=state) == expected


def test_filters_combine_with_search(meiling):
    vip = TagFactory(name="VIP", members=[meiling])
    ConsentFactory(member=meiling, channel="sms", state=Consent.State.OPTED_IN)

    assert _found(q="0912345678", tag_id=vip.pk, consent_channel="sms", consent_state="opted_in")
    assert not _found(q="0912345678", consent_channel="sms", consent_state="opted_out")


# --- Sorting and keyset paging ----------------------------------------------------------------


@pytest.fixture
def many_members():
    """17 members: ties on every sort key, some without a figures row, some who never bought."""
    now = timezone.now()
    members = []
    for n in range(17):
        member = MemberFactory(
            member_no=f"K{n:03d}",
            name=["林", "陳", "王", ""][n % 4] + str(n % 3),
            joined_at=now - timedelta(days=n % 5),  # ties
        )
        members.append(member)
        if n % 6 == 5:
            continue  # no figures row (made outside the services)
        bought = n % 4 != 0
        _stats(
            member,
            total_spend_twd=(n % 3) * 1000 if bought else 0,  # ties
            orders_count=n % 3 if bought else 0,
            last_purchase_at=now - timedelta(days=n % 4) if bought else None,
        )
    return members


def _expected_order(members, sort) -> list[str]:
    """The order a marketer expects, worked out in Python (blank figures last, then by pk)."""

    def value(member):
        if sort.field == "joined_at":
            return member.joined_at
        if sort.field == "name":
            return member.name
        stats = MemberStats.objects.filter(member=member).first()
        return getattr(stats, sort.field.removeprefix("stats__"), None) if stats else None

    with_value = [m for m in members if value(m) is not None]
    blank = [m for m in members if value(m) is None]
    with_value.sort(key=lambda m: (value(m), m.pk), reverse=sort.descending)
    blank.sort(key=lambda m: m.pk, reverse=sort.descending)
    return [m.member_no for m in with_value + blank]


@pytest.mark.parametrize("sort_key", list(MEMBER_SORTS))
def test_keyset_pages_skip_and_repeat_no_member(many_members, sort_key):
    seen, after, pages = [], "", 0
    while True:
        page = member_list_page(filters=MemberListFilters(), sort_key=sort_key, after=after, size=4)
        seen += [member.member_no for member in page.members]
        pages += 1
        if not page.next_cursor:
            break
        after = page.next_cursor

    assert seen == _expected_order(many_members, MEMBER_SORTS[sort_key])
    assert pages == 5  # 17 members, 4 a page


def test_paging_keeps_the_filters(many_members):
    filters = MemberListFilters(q="林")  # K000, K004, K008, K012, K016
    first = member_list_page(filters=filters, size=2)
    second = member_list_page(filters=filters, after=first.next_cursor, size=2)
    third = member_list_page(filters=filters, after=second.next_cursor, size=2)

    members = first.members + second.members + third.members
    assert {m.member_no for m in members} == {"K000", "K004", "K008", "K012", "K016"}
    assert third.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage", "v.x.1", "v.1.not-a-date", "b.1.extra"])
def test_a_cursor_not_handed_out_is_refused(cursor):
    with pytest.raises(InvalidCursor):
        member_list_page(filters=MemberListFilters(), after=cursor)


def test_an_unknown_sort_falls_back_to_newest_first(many_members):
    page = member_list_page(filters=MemberListFilters(), sort_key="bogus", size=3)

    assert page.sort.key == "-joined"
