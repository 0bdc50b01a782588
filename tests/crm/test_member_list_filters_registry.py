"""The member list's registry of filters other apps add (crm.list_filters): a select per filter,
kept in the URL, and the export, the bulk actions and "load more" act on the filtered members."""

import pytest
from django.db.models import Q

from crm.list_filters import (
    MEMBER_LIST_FILTERS,
    MemberListFilter,
    register_member_list_filter,
)
from crm.models import ExportJob, Tag
from crm.selectors import MemberListFilters, member_list_queryset
from omnichannel.registry import AlreadyRegistered
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _region_q(value: str) -> Q:
    return Q(home_store__code__startswith=value)


REGION = MemberListFilter(
    key="region",
    label="Region",
    choices=lambda: [("TPE", "Taipei"), ("KHH", "Kaohsiung")],
    q=_region_q,
)


@pytest.fixture
def region_filter():
    with MEMBER_LIST_FILTERS.scoped():
        register_member_list_filter(REGION)
        yield REGION


@pytest.fixture
def members():
    taipei, kaohsiung = StoreFactory(code="TPE01"), StoreFactory(code="KHH01")
    north = [MemberFactory(member_no=f"N{n:03d}", home_store=taipei) for n in range(60)]
    south = [MemberFactory(member_no=f"S{n:03d}", home_store=kaohsiung) for n in range(5)]
    return north, south


def test_registered_filter_narrows_the_queryset(region_filter, members):
    numbers = set(
        member_list_queryset(filters=MemberListFilters(extra=(("region", "KHH"),))).values_list(
            "member_no", flat=True
        )
    )

    assert numbers == {f"S{n:03d}" for n in range(5)}


def test_a_filter_no_longer_registered_is_ignored(members):
    filters = MemberListFilters(extra=(("region", "KHH"),))

    assert member_list_queryset(filters=filters).count() == 65


def test_keys_are_unique_and_crms_own_are_reserved(region_filter):
    with pytest.raises(AlreadyRegistered):
        register_member_list_filter(REGION)
    with pytest.raises(ValueError, match="crm's own"):
        register_member_list_filter(MemberListFilter("tag", "Tag", lambda: [], _region_q))


def test_page_renders_a_select_and_filters(login_as, region_filter, members):
    client = login_as("bob")

    page = client.get("/members/").content.decode()
    assert 'name="region"' in page and ">Kaohsiung</option>" in page

    page = client.get("/members/", {"region": "KHH"}).content.decode()
    assert "S000" in page and "N000" not in page
    assert 'value="KHH" selected' in page
    # The export and the bulk actions carry the filter in their query string.
    assert "/members/export/?region=KHH" in page


def test_a_bad_value_shows_its_error_and_the_rest_still_filters(login_as, region_filter, members):
    page = login_as("bob").get("/members/", {"region": "XXX", "q": "S001"}).content.decode()

    assert "is-invalid" in page
    assert "S001" in page and "S002" not in page


def test_load_more_keeps_the_filter(login_as, region_filter, members):
    client = login_as("bob")
    page = client.get("/members/", {"region": "TPE"}).context["page"]
    assert page.next_cursor

    assert (
        "region=TPE"
        in client.get("/members/", {"region": "TPE"})
        .content.decode()
        .split('data-testid="load-more-row"')[1][:600]
    )  # the "load more" link keeps the filter

    more = client.get("/members/", {"region": "TPE", "after": page.next_cursor}, **HTMX)

    html = more.content.decode()
    assert "N009" in html and "N050" not in html and "S00" not in html


def test_export_and_bulk_tag_act_on_the_filtered_members(login_as, region_filter, members):
    client = login_as("alice")
    client.post("/members/export/?region=KHH", {"file_format": "csv"})
    job = ExportJob.objects.get()
    assert job.total == 5

    tag = Tag.objects.create(name="南部")
    client.post("/members/bulk-tag/?region=KHH", {"tag": tag.pk, "action": "add", "confirm": "1"})
    assert set(tag.members.values_list("member_no", flat=True)) == {f"S{n:03d}" for n in range(5)}
