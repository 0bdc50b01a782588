"""The crm admin's list pages: bounded queries, searches that use indexes, fixed-choice filters."""

import pytest
from django.contrib import admin
from django.db import connection

from crm.admin import LargeTablePaginator, member_ids_for_term
from crm.models import Consent, Identity, Member, MergeLog, Order, Store, Touchpoint
from crm.services import Identifier, member_resolve
from tests.factories import (
    ConsentFactory,
    IdentityFactory,
    MemberFactory,
    OrderFactory,
    StoreFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db
ON_POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the count estimate reads PostgreSQL's catalogue"
)


@pytest.fixture
def crm_rows():
    """A few rows in every crm table, members with identities and orders."""
    stores = StoreFactory.create_batch(3)
    members = [MemberFactory(home_store=stores[n % 3]) for n in range(6)]
    for member in members:
        IdentityFactory(member=member)
        IdentityFactory(member=member, email=True)
        ConsentFactory(member=member)
        OrderFactory.create_batch(2, member=member)
    TagFactory(members=members[:2])
    first = member_resolve(identifiers=[Identifier("phone", "+886911000001")], source="store")
    second = member_resolve(identifiers=[Identifier("email", "a@example.com")], source="web")
    member_resolve(
        identifiers=[Identifier("phone", "+886911000001"), Identifier("email", "a@example.com")],
        source="web",
    )
    return {"members": members, "survivor": first.member, "merged": second.member}


# Queries of one list page for an Admin: session, user, then the page's own (the count from a
# LIMITed subquery or the catalogue, the rows, and a filter's choices where it has any).
CHANGELIST_QUERIES = {
    "member": 5,  # count, rows, the home-store filter's stores
    "identity": 4,
    "consent": 4,
    "order": 5,  # count, rows, the store filter's stores
    "touchpoint": 4,
    "mergelog": 4,
    "erasurelog": 4,
    "importjob": 4,
    "exportjob": 4,
    "apikey": 4,
    "store": 5,  # count, rows, the distinct cities
    "tag": 4,
}


@pytest.mark.parametrize("model", sorted(CHANGELIST_QUERIES))
def test_changelist_query_count_is_pinned(login_as, crm_rows, django_assert_num_queries, model):
    client = login_as("alice")

    with django_assert_num_queries(CHANGELIST_QUERIES[model]):
        response = client.get(f"/admin/crm/{model}/")

    assert response.status_code == 200


def test_member_changelist_queries_do_not_grow_with_rows(login_as, django_assert_num_queries):
    client = login_as("alice")
    stores = StoreFactory.create_batch(2)
    for n in range(40):
        member = MemberFactory(home_store=stores[n % 2])
        IdentityFactory(member=member)

    with django_assert_num_queries(CHANGELIST_QUERIES["member"]):
        client.get("/admin/crm/member/")
    with django_assert_num_queries(CHANGELIST_QUERIES["identity"]):
        client.get("/admin/crm/identity/")


def test_every_crm_model_has_search_and_filters():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "crm":
            continue
        assert model_admin.search_fields, f"{model.__name__} has no search"
        assert model_admin.list_filter, f"{model.__name__} has no filters"
        assert model_admin.show_full_result_count is False, model.__name__
        assert model_admin.paginator is LargeTablePaginator, model.__name__


@pytest.mark.parametrize(
    "spelling", ["0912-345-678", "+886 912 345 678", "０９１２３４５６７８", "886912345678"]
)
def test_member_search_finds_a_phone_in_another_spelling(login_as, spelling):
    member = MemberFactory(name="陳美玲")
    IdentityFactory(member=member, raw="0912345678")
    MemberFactory(name="林志豪")

    response = login_as("alice").get("/admin/crm/member/", {"q": spelling})

    assert list(response.context["cl"].result_list) == [member]


def test_member_search_by_number_email_and_name_prefix(login_as):
    mei = MemberFactory(name="陳美玲", member_no="M0000123")
    IdentityFactory(member=mei, email=True, raw=" Mei.Chen@Example.com ")
    hao = MemberFactory(name="林志豪")
    client = login_as("alice")

    def found(term):
        return list(client.get("/admin/crm/member/", {"q": term}).context["cl"].result_list)

    assert found("m0000123") == [mei]
    assert found("MEI.CHEN@example.com") == [mei]
    assert found("陳美") == [mei]
    assert found("林志豪") == [hao]
    assert found("王") == []


def test_a_search_lands_on_the_member_of_an_identifier_after_a_merge(crm_rows):
    survivor, merged = crm_rows["survivor"], crm_rows["merged"]

    assert member_ids_for_term("a@example.com") == [survivor.pk]
    assert member_ids_for_term(merged.member_no) == [merged.pk]


def test_order_search_by_order_number_and_by_member(login_as):
    order = OrderFactory(channel="web", external_no="W2025031200017")
    other = OrderFactory(channel="web")
    IdentityFactory(member=other.member, raw="0988123456")
    client = login_as("alice")

    by_number = client.get("/admin/crm/order/", {"q": "W2025031200017"}).context["cl"]
    by_phone = client.get("/admin/crm/order/", {"q": "0988-123-456"}).context["cl"]

    assert list(by_number.result_list) == [order]
    assert list(by_phone.result_list) == [other]


def test_mergelog_search_finds_both_sides(login_as, crm_rows):
    log = MergeLog.objects.get()
    client = login_as("alice")

    for member in (crm_rows["survivor"], crm_rows["merged"]):
        cl = client.get("/admin/crm/mergelog/", {"q": member.member_no}).context["cl"]
        assert list(cl.result_list) == [log]


def test_filters_offer_fixed_choices(login_as, crm_rows):
    # Given identities from two sources and of two kinds, so a filter that ignored its value
    # would show rows it should not.
    web_phone = IdentityFactory(member=crm_rows["members"][0], source="web")
    client = login_as("alice")

    page = client.get("/admin/crm/identity/", {"source": "store", "kind": "phone"})
    web = client.get("/admin/crm/identity/", {"source": "web"})

    assert page.status_code == 200
    shown = list(page.context["cl"].result_list)
    expected = Identity.objects.filter(source="store", kind="phone")
    assert sorted(i.pk for i in shown) == sorted(expected.values_list("pk", flat=True))
    assert shown and Identity.objects.exclude(pk__in=[i.pk for i in shown]).exists()
    assert web_phone in web.context["cl"].result_list
    assert web_phone not in shown
    (source,) = [
        f for f in page.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "source"
    ]
    assert "web" in [value for value, _label in source.lookup_choices]  # fixed, not DISTINCT


def test_analysts_in_the_admin_see_personal_data_masked(client, carol):
    carol.is_staff = True
    carol.save(update_fields=["is_staff"])
    mei = MemberFactory(name="陳美玲", member_no="M0000123")
    IdentityFactory(member=mei, raw="0912345678")
    OrderFactory(member=mei)
    client.force_login(carol)

    pages = {m: client.get(f"/admin/crm/{m}/").content.decode() for m in ("identity", "order")}
    members = client.get("/admin/crm/member/").content.decode()

    assert "0912-***-678" in pages["identity"]
    assert "+886912345678" not in pages["identity"]
    for html in (*pages.values(), members):
        assert "M0000123" in html
        assert "陳美玲" not in html
    assert "陳**" in members


def test_past_the_exact_limit_the_count_stops_counting(monkeypatch):
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 3)
    MemberFactory.create_batch(5)

    paginator = LargeTablePaginator(Member.objects.order_by("-pk"), 2)

    if connection.vendor == "postgresql":
        assert paginator.count >= 4
        assert paginator.estimated
    else:
        assert paginator.count == 5


@ON_POSTGRES
def test_on_postgres_an_unfiltered_count_reads_the_catalogue(
    monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 3)
    MemberFactory.create_batch(6)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_member")

    paginator = LargeTablePaginator(Member.objects.order_by("-pk"), 2)
    with django_assert_num_queries(2):  # the bounded count, then the catalogue
        assert paginator.count == 6

    assert paginator.estimated


@ON_POSTGRES
def test_on_postgres_the_list_says_its_count_is_an_estimate(login_as, monkeypatch):
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 3)
    MemberFactory.create_batch(6)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_member")

    html = login_as("alice").get("/admin/crm/member/").content.decode()

    assert '<span data-testid="result-count">約 6</span>' in html


def test_big_tables_offer_no_bulk_delete_and_members_are_erased_not_deleted(login_as, alice, rf):
    member = MemberFactory()
    request = rf.get("/admin/")
    request.user = alice

    for model in (Member, Identity, Order, Touchpoint, Consent, MergeLog):
        assert "delete_selected" not in admin.site._registry[model].get_actions(request)
    assert "delete_selected" in admin.site._registry[Store].get_actions(request)
    assert login_as("alice").get(f"/admin/crm/member/{member.pk}/delete/").status_code == 403
