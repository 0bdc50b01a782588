"""The 360° profile page: lookup, figures, masking, query counts, timeline paging."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import NoReverseMatch, reverse

from crm.models import Member, MemberNote, Touchpoint
from crm.profile_cards import PROFILE_CARDS, ProfileCard, register_profile_card
from crm.services import member_forget, member_merge_by_hand
from crm.services.consent import consent_record
from crm.services.orders import OrderIn, orders_upsert
from crm.timeline import PAGE_SIZE, timeline_page
from tests.factories import IdentityFactory, MemberFactory, TagFactory

pytestmark = pytest.mark.django_db
TAIPEI = ZoneInfo("Asia/Taipei")
NOW = datetime.now(tz=TAIPEI).replace(microsecond=0)


def url(member: Member, name: str = "crm:member_detail", *args) -> str:
    return reverse(name, args=[member.member_no, *args])


def test_a_merged_members_number_redirects_to_the_survivor(login_as):
    first, second, third = MemberFactory(), MemberFactory(), MemberFactory()
    member_merge_by_hand(first=second, second=third, reason="same phone", actor=None)
    member_merge_by_hand(first=first, second=second, reason="same email", actor=None)

    response = login_as("bob").get(url(third))

    assert response.status_code == 302
    assert response["Location"] == url(first)


def test_an_erased_member_shows_a_tombstone_without_personal_data(login_as, alice):
    member = MemberFactory(name="王小明")
    IdentityFactory(member=member, raw="0912-345-678")
    member_forget(member=member, actor=alice, reason="request #12")

    response = login_as("bob").get(url(member))

    assert response.status_code == 200
    assert b'data-testid="member-erased"' in response.content
    # Not b"912" alone: a factory's member number (M9000912) may hold those digits.
    assert "王小明".encode() not in response.content
    assert b"345-678" not in response.content and b"912345678" not in response.content


def test_an_unknown_number_is_not_found(login_as):
    assert login_as("bob").get("/members/OC999999999/").status_code == 404


def test_figures_match_hand_counts(login_as):
    member = MemberFactory()
    orders = [
        OrderIn("store", "S1", 1_000, NOW - timedelta(days=40), "placed", "TPE01"),
        OrderIn("web", "W1", 500, NOW - timedelta(days=20), "placed"),
        OrderIn("store", "R1", -200, NOW - timedelta(days=39), "placed", "TPE01", "", True, "S1"),
        OrderIn("web", "W2", 300, NOW - timedelta(days=3), "cancelled"),
        OrderIn("marketplace", "MP1", 2_080, NOW - timedelta(days=10), "placed"),
    ]
    orders_upsert(orders=orders, member_ids=[member.pk] * len(orders))
    # Hand count: placed sales S1, W1, MP1 → 3 orders, 1 in store, 2 online; spend
    # 1,000 - 200 + 500 + 2,080 = 3,380; average 3,380 / 3 = 1,127.

    response = login_as("bob").get(url(member))

    html = response.content.decode()
    assert 'data-testid="figure-total-spend">NT$3,380<' in html
    assert 'data-testid="figure-orders-online">2<' in html
    assert 'data-testid="figure-orders-offline">1<' in html
    assert 'data-testid="figure-average-order">NT$1,127<' in html
    assert 'data-testid="figure-omo"' in html
    first = (NOW - timedelta(days=40)).strftime("%Y/%m/%d %H:%M")
    last = (NOW - timedelta(days=10)).strftime("%Y/%m/%d %H:%M")
    assert f'data-testid="figure-first-purchase">{first}<' in html
    assert f'data-testid="figure-last-purchase">{last}<' in html
    channels = html.split('data-testid="figure-channels">')[1].split("</div>")[0]
    assert channels.count("channel-badge") == 3  # store, web, marketplace
    # The return links to its sale's entry on the timeline.
    sale = member.orders.get(external_no="S1")
    assert f'href="#timeline-order-{sale.pk}" data-testid="return-sale-link"' in html
    assert f'id="timeline-order-{sale.pk}"' in html


def test_a_member_without_figures_shows_zeros(login_as):
    member = MemberFactory()  # made outside the services: no MemberStats row

    html = login_as("bob").get(url(member)).content.decode()

    assert 'data-testid="figure-total-spend">NT$0<' in html
    assert 'data-testid="figure-rfm">—<' in html


def test_identities_consents_and_tags_show(login_as):
    member = MemberFactory()
    IdentityFactory(member=member, raw="0912-345-678")
    IdentityFactory(member=member, email=True, raw="mei@example.com")
    consent_record(member=member, channel="line", opted_in=True, at=NOW - timedelta(days=2))
    consent_record(member=member, channel="line", opted_in=False, at=NOW - timedelta(days=1))
    TagFactory(name="VIP", members=[member])

    html = login_as("bob").get(url(member)).content.decode()

    assert "0912-345-678" in html and "mei@example.com" in html
    assert 'data-channel="line" data-state="opted_out"' in html
    assert 'data-channel="email" data-state="none"' in html
    assert 'data-testid="tag-name">VIP<' in html


def test_the_analyst_sees_personal_data_masked_and_no_actions(login_as):
    member = MemberFactory(name="王小明")
    IdentityFactory(member=member, raw="0912-345-678")
    IdentityFactory(member=member, email=True, raw="meiling@example.com")
    MemberNote.objects.create(member=member, body="called her on 0912345678")

    html = login_as("carol").get(url(member)).content.decode()

    assert "0912-***-678" in html and "0912-345-678" not in html
    assert "me***@example.com" in html and "meiling@" not in html
    assert "王小明" not in html and "王**" in html
    assert "0912345678" not in html
    for action in (
        "edit-contact",
        "tag-form",
        "note-form",
        "consent-form",
        "merge-by-hand",
        "forget",
    ):
        assert f'data-testid="{action}"' not in html


def test_profile_query_count_is_pinned(login_as, django_assert_num_queries):
    member = MemberFactory()
    for i in range(3):
        IdentityFactory(member=member)
        TagFactory(members=[member])
        consent_record(member=member, channel="email", opted_in=bool(i % 2))
    for i in range(30):
        Touchpoint.objects.create(
            member=member, channel="web", kind="page_view", at=NOW - timedelta(hours=i)
        )
    client = login_as("bob")

    # session, user, permissions (2), the role's group; member, identities, consents, merges,
    # tags; one per timeline source (5). However many rows the member has.
    # +1: campaigns' message timeline source (one query per registered source).
    # +5: loyalty's four timeline sources (points, coupons issued, used, tiers) and its points
    # card (one query finds no account: no card).
    # +1: loyalty's wallet card (one query: the member's cards, none here).
    with django_assert_num_queries(22):
        response = client.get(url(member))
    assert response.status_code == 200


def test_the_timeline_loads_more_when_scrolled(login_as):
    member = MemberFactory()
    for i in range(PAGE_SIZE + 5):
        Touchpoint.objects.create(
            member=member, channel="web", kind="page_view", at=NOW - timedelta(hours=i)
        )
    client = login_as("bob")

    first = client.get(url(member)).content.decode()
    assert first.count('data-testid="timeline-entry"') == PAGE_SIZE
    more = first.split('data-testid="timeline-more"')[1].split('hx-get="')[1].split('"')[0]
    rest = client.get(more.replace("&amp;", "&"), headers={"HX-Request": "true"}).content.decode()

    assert rest.count('data-testid="timeline-entry"') == 5
    assert "<html" not in rest and 'data-testid="timeline-more"' not in rest
    # Without htmx the same link is a whole page starting at the cursor.
    page = client.get(more.replace("&amp;", "&")).content.decode()
    assert "<html" in page and page.count('data-testid="timeline-entry"') == 5


def test_timeline_page_query_count_is_pinned(login_as, django_assert_num_queries):
    member = MemberFactory()
    for i in range(PAGE_SIZE * 3):
        Touchpoint.objects.create(
            member=member, channel="web", kind="page_view", at=NOW - timedelta(hours=i)
        )
    client = login_as("bob")
    first = timeline_page(member_id=member.pk)

    # session, user, permissions (2), the role's group; member; one per timeline source (5)
    # +1: campaigns' message timeline source (one query per registered source).
    # +4: loyalty's four timeline sources (points, coupons issued, used, tiers).
    with django_assert_num_queries(16):
        response = client.get(
            url(member), {"before": first.next_cursor.encode()}, headers={"HX-Request": "true"}
        )
    assert response.content.decode().count('data-testid="timeline-entry"') == PAGE_SIZE


def test_registered_profile_cards_show_and_cards_with_nothing_to_show_do_not(login_as, monkeypatch):
    member = MemberFactory()
    monkeypatch.setattr(PROFILE_CARDS, "_items", {})
    register_profile_card(
        ProfileCard("points", "components/messages.html", lambda m: {"points": 120})
    )
    register_profile_card(ProfileCard("wallet", "components/messages.html", lambda m: None))

    html = login_as("bob").get(url(member)).content.decode()

    assert 'data-card="points"' in html and 'data-card="wallet"' not in html


def test_member_list_rows_link_to_the_profile(login_as):
    member = MemberFactory()

    html = login_as("bob").get(reverse("crm:member_list")).content.decode()

    assert f'href="/members/{member.member_no}/"' in html


def test_words_under_members_are_no_member_numbers():
    with pytest.raises(NoReverseMatch):
        reverse("crm:member_detail", args=["export"])
