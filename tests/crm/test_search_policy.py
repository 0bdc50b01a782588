"""Issue 9: searches cannot recover what the masks hide.

The analyst (no crm.unmask_personal_data) searches by member number only, on the member list
(where the top-bar search lands), its export and the admin's changelists; the list's cursors
carry no personal data and cannot be forged; and everyone's searches are rate-limited.
"""

import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import translation
from django.utils.html import escape

from crm.models import ExportJob
from crm.search_policy import ERROR_SEARCH_PERSONAL
from crm.selectors import MemberListFilters, member_list_page
from crm.views import ERROR_BROKEN_PAGE_LINK
from tests.factories import IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db
LIST = "/members/"


@pytest.fixture
def member():
    member = MemberFactory(name="王小明", member_no="M7654321")
    IdentityFactory(member=member, raw="0912-345-678")
    IdentityFactory(member=member, kind="email", raw="ming@example.com")
    return member


def _zh(message) -> str:
    """A message as the page shows it (the product speaks zh-Hant)."""
    with translation.override("zh-hant"):
        return escape(str(message))


def _rows(html: str) -> list[str]:
    return re.findall(r'data-member-no="([^"]+)"', html) or re.findall(
        r'href="/members/([^/"]+)/"', html
    )


@pytest.mark.parametrize("q", ["0912-345-678", "0912345678", "ming@example.com", "王", "王小明"])
def test_the_analyst_cannot_search_by_identifier_or_name(login_as, member, q):
    response = login_as("carol").get(LIST, {"q": q})

    html = response.content.decode()
    assert _zh(ERROR_SEARCH_PERSONAL) in html
    assert member.member_no not in html


def test_the_analyst_can_search_by_member_number(login_as, member):
    html = login_as("carol").get(LIST, {"q": "m7654321"}).content.decode()

    assert _zh(ERROR_SEARCH_PERSONAL) not in html
    assert member.member_no in html


def test_the_marketer_still_searches_by_phone_and_name(login_as, member):
    client = login_as("bob")

    for q in ("0912 345 678", "王小"):
        html = client.get(LIST, {"q": q}).content.decode()
        assert member.member_no in html, q
        assert _zh(ERROR_SEARCH_PERSONAL) not in html


def test_the_refusal_is_translated(login_as, member):
    html = login_as("carol").get(LIST, {"q": "0912345678"}).content.decode()

    assert "您的角色只能以會員編號搜尋會員" in html


def test_the_analyst_cannot_export_a_search_by_phone(login_as, member):
    response = login_as("carol").post("/members/export/?q=0912345678", {"file_format": "csv"})

    assert response.status_code == 302
    assert not ExportJob.objects.exists()


def test_a_staff_user_without_unmask_searches_the_admin_by_number_only(member, client):
    from django.contrib.auth import get_user_model

    # Given a staff account that may view members but not unmask them
    user = get_user_model().objects.create_user("dora", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_member"))
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")

    by_phone = client.get("/admin/crm/member/", {"q": "0912345678"}).content.decode()
    by_number = client.get("/admin/crm/member/", {"q": member.member_no}).content.decode()

    assert _zh(ERROR_SEARCH_PERSONAL) in by_phone and f"/{member.pk}/change/" not in by_phone
    assert f"/{member.pk}/change/" in by_number


def test_name_sort_cursors_carry_no_name_and_cannot_be_forged(login_as):
    for i in range(3):
        MemberFactory(name=f"陳美玲{i}")
    page = member_list_page(filters=MemberListFilters(), sort_key="name", size=1)

    assert page.next_cursor and "陳" not in page.next_cursor and "美玲" not in page.next_cursor
    forged = page.next_cursor.replace("p.", "v.", 1) + ".陳"
    html = login_as("bob").get(LIST, {"sort": "name", "after": forged}).content.decode()
    assert _zh(ERROR_BROKEN_PAGE_LINK) in html


def test_every_sorts_cursor_is_signed(login_as):
    for _ in range(3):
        MemberFactory()
    page = member_list_page(filters=MemberListFilters(), sort_key="-joined", size=1)
    pk, *_ = page.next_cursor.split(":")[1].split(".")[1:]
    forged = page.next_cursor.replace(f".{pk}.", f".{int(pk) + 1}.")

    response = login_as("bob").get(LIST, {"after": forged})

    assert response.status_code == 200
    assert [_zh(m) for m in response.context["messages"]] == [_zh(ERROR_BROKEN_PAGE_LINK)]


def test_the_analyst_gets_no_name_order(login_as):
    MemberFactory(name="乙")
    MemberFactory(name="甲")
    response = login_as("carol").get(LIST, {"sort": "name"})

    assert response.context["page"].sort.key == "-joined"
    assert 'data-testid="sort-name"' not in response.content.decode()


def test_searches_are_rate_limited_per_person(login_as, member, settings):
    settings.SEARCH_RATE_LIMIT_PER_MINUTE = 2
    bob, other = login_as("bob"), login_as("alice")

    statuses = [bob.get(LIST, {"q": f"0912{i:06d}"}).status_code for i in range(3)]
    limited = bob.get(LIST, {"q": "M7654321"})

    assert statuses == [200, 200, 429]
    assert limited.status_code == 429
    assert "搜尋次數過多" in limited.content.decode()
    assert member.member_no not in _rows(limited.content.decode())
    assert other.get(LIST, {"q": "M7654321"}).status_code == 200


@pytest.mark.parametrize(
    ("persona", "offered"),
    [
        ("bob", "Search members by phone, email, LINE ID, card…"),
        ("carol", "Search members by member number"),
    ],
)
def test_the_search_boxes_offer_what_the_role_may_search(login_as, persona, offered):
    with translation.override("en"):
        html = login_as(persona).get("/members/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f'placeholder="{offered}"' in html
    if persona == "carol":
        assert "Your role searches by member number only" in html
        assert "Phone, email, LINE ID, card, carrier" not in html
