"""Forget a member (PDPA erasure): personal data gone everywhere, revenue kept."""

import re

import pytest
from django.core.exceptions import PermissionDenied

from crm.hooks import MEMBER_HOOKS, MemberHook, register_member_hook
from crm.models import Consent, ErasureLog, Identity, Member, MergeLog, Order, Tag
from crm.services import (
    ErasureError,
    Identifier,
    MemberProfile,
    MergeError,
    member_forget,
    member_resolve,
    member_unmerge,
)
from crm.services.identity import ERROR_ERASED
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db
PHONE = Identifier("phone", "+886912345678")
EMAIL = Identifier("email", "mei@example.com")


@pytest.fixture
def mei():
    member = member_resolve(
        identifiers=[PHONE], source="store", profile=MemberProfile(name="陳美玲")
    ).member
    Consent.objects.create(member=member, channel="sms", state="opted_in")
    Tag.objects.create(name="VIP").members.add(member)
    OrderFactory(member=member, channel="store", amount_twd=1280)
    return member


def test_forget_erases_personal_data_and_keeps_anonymous_revenue(mei, bob):
    log = member_forget(member=mei, actor=bob, reason="PDPA request #42")

    mei.refresh_from_db()
    assert (mei.status, mei.name, mei.member_no) == ("erased", "", mei.member_no)
    assert not Identity.objects.exists()
    assert not mei.tags.exists()
    order = Order.objects.get()
    assert (order.member, order.amount_twd) == (None, 1280)
    assert Consent.objects.filter(member=mei).count() == 1  # proof of what was allowed
    assert (log.actor, log.reason) == (bob, "PDPA request #42")
    assert log.counts["identities"] == 1
    assert ErasureLog.objects.count() == 1


def test_analysts_may_not_forget(mei, carol):
    with pytest.raises(PermissionDenied):
        member_forget(member=mei, actor=carol, reason="asked")

    mei.refresh_from_db()
    assert mei.status == "active"


def test_forget_needs_a_reason(mei, bob):
    with pytest.raises(ErasureError):
        member_forget(member=mei, actor=bob, reason="  ")


def test_forget_takes_merged_tombstones_and_their_snapshots(mei, bob):
    member_resolve(identifiers=[EMAIL], source="web", profile=MemberProfile(name="Mei"))
    member_resolve(identifiers=[PHONE, EMAIL], source="web")
    merged = Member.objects.get(status="merged")

    member_forget(member=mei, actor=bob, reason="PDPA request #43")

    merged.refresh_from_db()
    assert merged.name == ""
    log = MergeLog.objects.get()
    assert "mei@example.com" not in str(log.snapshot) + str(log.matched_keys)
    with pytest.raises(MergeError, match=re.escape(str(ERROR_ERASED))):
        member_unmerge(merge_log=log)


def test_other_apps_erase_their_rows_through_the_hook(mei, bob):
    erased = []
    with MEMBER_HOOKS.scoped():
        register_member_hook(
            MemberHook(
                name="test-erase",
                on_merge=lambda pairs: {},
                on_unmerge=lambda s, m, snap: None,
                on_erase=erased.append,
            )
        )
        member_forget(member=mei, actor=bob, reason="PDPA request #44")

    assert erased == [[mei.pk]]
