"""Merge, undo and forget from the Django admin, through the same services."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from crm.models import ErasureLog, Member, MergeLog
from crm.services import Identifier, member_resolve

pytestmark = pytest.mark.django_db
MEMBERS_URL = "/admin/crm/member/"


@pytest.fixture
def two_members():
    first = member_resolve(identifiers=[Identifier("phone", "+886912345678")], source="store")
    second = member_resolve(identifiers=[Identifier("email", "mei@example.com")], source="web")
    return first.member, second.member


def act(client, url, action, objects, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], **extra}
    return client.post(url, data, follow=True)


def test_merge_asks_for_a_reason_then_merges(login_as, two_members):
    client = login_as("alice")

    page = act(client, MEMBERS_URL, "merge_members", two_members)
    assert "reason" in page.content.decode()
    assert not MergeLog.objects.exists()

    act(client, MEMBERS_URL, "merge_members", two_members, confirm="yes", reason="same person")

    log = MergeLog.objects.get()
    assert (log.survivor, log.merged, log.reason) == (*two_members, "same person")


def test_undo_from_the_admin(login_as, two_members):
    client = login_as("alice")
    act(client, MEMBERS_URL, "merge_members", two_members, confirm="yes", reason="same person")

    act(client, "/admin/crm/mergelog/", "undo_merges", list(MergeLog.objects.all()))

    assert Member.objects.filter(status="active").count() == 2


def test_forget_from_the_admin_records_the_operator(login_as, alice, two_members):
    client = login_as("alice")

    act(client, MEMBERS_URL, "forget_members", two_members[:1], confirm="yes", reason="PDPA #9")

    log = ErasureLog.objects.get()
    assert (log.member, log.actor, log.reason) == (two_members[0], alice, "PDPA #9")
