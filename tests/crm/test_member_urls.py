"""Member URLs carry every member number the brand has (issue 9): a number with "/", "?", "#",
"%", a space or Chinese in it must not break the pages that list the member, nor its own."""

from urllib.parse import unquote

import pytest
from django.urls import resolve, reverse

from crm.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

ODD_NUMBERS = ["A/1", "/ABC+123", "M#12", "M?12", "50%OFF", "VIP 7", "會員7", "A//B/", "A%2FB"]


@pytest.mark.parametrize("member_no", ODD_NUMBERS)
def test_a_member_number_round_trips_through_its_url(member_no):
    url = reverse("crm:member_detail", args=[member_no])

    assert url.startswith("/members/") and url.count("/") == 3
    # A request's path is unquoted once before it is resolved.
    match = resolve(unquote(url))
    assert match.url_name == "member_detail" and match.kwargs["member_no"] == member_no
    edit = resolve(unquote(reverse("crm:member_edit", args=[member_no])))
    assert edit.url_name == "member_edit" and edit.kwargs["member_no"] == member_no


@pytest.mark.parametrize("member_no", ODD_NUMBERS)
def test_the_list_and_the_profile_of_a_member_with_an_odd_number_work(login_as, member_no):
    member = MemberFactory(member_no=member_no, name="王小明")
    MemberFactory(member_no="M0000001")  # another member on the same page
    client = login_as("bob")

    listing = client.get("/members/")
    profile_url = reverse("crm:member_detail", args=[member_no])
    profile = client.get(profile_url)

    assert listing.status_code == 200
    assert profile_url.encode() in listing.content
    assert profile.status_code == 200
    assert profile.context["member"] == member
    # The analyst's list (masked names) links the same way.
    assert login_as("carol").get("/members/").status_code == 200


def test_a_number_typed_with_a_bare_slash_opens_the_member(login_as):
    member = MemberFactory(member_no="A/1")

    response = login_as("bob").get("/members/A/1/")

    assert response.status_code == 200 and response.context["member"] == member


def test_the_words_of_other_member_pages_are_no_member_numbers():
    assert resolve("/members/export/").url_name == "member_export"
    assert resolve("/members/bulk-tag/").url_name == "member_bulk_tag"
    assert resolve("/members/exports/5/download/").url_name == "member_export_download"


def test_an_unknown_odd_number_is_not_found(login_as):
    assert login_as("bob").get(reverse("crm:member_detail", args=["NO/SUCH"])).status_code == 404
    assert not Member.objects.exists()
