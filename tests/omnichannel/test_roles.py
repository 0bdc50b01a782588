"""The role matrix: each persona walked through each page, and what each may see and do."""

import pytest
from django.contrib.auth.models import Group

from crm.models import Identity, Member
from omnichannel.roles import ROLES

PAGES = ["/", "/members/", "/segments/", "/campaigns/", "/loyalty/", "/kpis/channels/", "/imports/"]
ADMIN_PAGES = ["/admin/", "/admin/crm/member/", "/admin/django_celery_beat/periodictask/"]

# persona → {path: expected status}; 302 from the admin means "sent to the admin login".
MATRIX = {
    "alice": {**dict.fromkeys(PAGES, 200), **dict.fromkeys(ADMIN_PAGES, 200)},
    "bob": {**dict.fromkeys(PAGES, 200), **dict.fromkeys(ADMIN_PAGES, 302)},
    "carol": {
        **dict.fromkeys(PAGES, 200),
        "/imports/": 403,
        **dict.fromkeys(ADMIN_PAGES, 302),
    },
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "path", "expected"),
    [(p, path, status) for p, pages in MATRIX.items() for path, status in pages.items()],
)
def test_role_matrix_pages(login_as, persona, path, expected):
    response = login_as(persona).get(path)

    assert response.status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*PAGES, "/admin/"])
def test_every_page_needs_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.django_db
def test_roles_are_groups_made_by_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


@pytest.mark.django_db
def test_navigation_shows_what_each_role_may_open(login_as):
    pages = {name: login_as(name).get("/").content.decode() for name in ("alice", "bob", "carol")}

    assert 'href="/admin/"' in pages["alice"]
    assert 'href="/admin/"' not in pages["bob"]
    assert 'href="/imports/"' in pages["bob"]
    assert 'href="/admin/"' not in pages["carol"]
    assert 'href="/imports/"' not in pages["carol"]
    assert all('href="/members/"' in page for page in pages.values())


@pytest.mark.django_db
def test_permissions_per_role(alice, bob, carol):
    for perm in (
        "crm.change_member",
        "crm.unmask_personal_data",
        "crm.merge_member",
        "crm.forget_member",
        "crm.import_data",
    ):
        assert alice.has_perm(perm)
        assert bob.has_perm(perm)
        assert not carol.has_perm(perm)
    assert carol.has_perm("crm.view_member")
    assert carol.has_perm("crm.export_members")
    assert not bob.has_perm("django_celery_beat.change_periodictask")
    assert not bob.has_perm("auth.change_user")


@pytest.fixture
def member_with_contacts(db):
    member = Member.objects.create(member_no="M0000001", name="陳美玲")
    Identity.objects.create(member=member, kind="phone", value="+886912345678")
    Identity.objects.create(member=member, kind="email", value="meiling.chen@example.com")
    return member


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_marketers_and_admins_see_personal_data(login_as, member_with_contacts, persona):
    html = login_as(persona).get("/members/").content.decode()

    assert "0912-345-678" in html
    assert "meiling.chen@example.com" in html


def test_analysts_see_personal_data_masked(login_as, member_with_contacts):
    html = login_as("carol").get("/members/").content.decode()

    assert "0912-***-678" in html
    assert "me***@example.com" in html
    assert "0912-345-678" not in html
    assert "meiling.chen@example.com" not in html


def test_analyst_cannot_change_a_member_in_the_admin(login_as, carol, member_with_contacts):
    # Carol made staff, so the admin answers for her role's permissions, not for a missing
    # is_staff (a non-staff user is sent to the login page whatever her permissions).
    carol.is_staff = True
    carol.save(update_fields=["is_staff"])
    url = f"/admin/crm/member/{member_with_contacts.pk}/change/"
    client = login_as("carol")

    page = client.get(url)
    response = client.post(url, {"name": "changed", "member_no": member_with_contacts.member_no})

    assert page.status_code == 200  # she may read it…
    assert not page.context["has_change_permission"]
    assert response.status_code == 403  # …and not change it
    member_with_contacts.refresh_from_db()
    assert member_with_contacts.name == "陳美玲"
