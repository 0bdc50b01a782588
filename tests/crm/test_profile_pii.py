"""Issue 9: merges on the profile (timeline, its htmx pages, the merges card) show identifiers
masked to the analyst and readable to the marketer; a merge's free-text reason is hidden from
the analyst."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Touchpoint
from crm.services import member_merge
from crm.timeline import PAGE_SIZE, timeline_page
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

PHONE = "+886912345678"
EMAIL = "meiling.chen@example.com"
REASON = "客服確認 0987-654-321 是同一人"


def _merged_member():
    survivor, merged = MemberFactory(), MemberFactory()
    member_merge(
        survivor=survivor,
        merged=merged,
        matched_keys=[f"phone:{PHONE}", f"email:{EMAIL}"],
        source="pos",
        reason=REASON,
    )
    return survivor


def _page(client, member, **params):
    return client.get(
        reverse("crm:member_detail", args=[member.member_no]), params
    ).content.decode()


def test_the_analyst_sees_merge_identifiers_masked_and_no_reason(login_as):
    member = _merged_member()

    html = _page(login_as("carol"), member)

    assert "0912-***-678" in html and "me***@example.com" in html
    for raw in ("912345678", "0912-345-678", EMAIL, "0987-654-321", "客服確認"):
        assert raw not in html
    assert 'data-testid="merge-reason-hidden"' in html


def test_the_marketer_sees_merge_identifiers_readable_and_the_reason(login_as):
    member = _merged_member()

    html = _page(login_as("bob"), member)

    assert "0912-345-678" in html and EMAIL in html
    assert "phone:+886" not in html
    assert REASON in html


def test_merge_entries_on_a_later_timeline_page_are_masked_too(login_as):
    # Given a merge older than a full page of touchpoints, so it lands on the htmx "more" page
    member = _merged_member()
    now = timezone.now() + timedelta(days=1)
    Touchpoint.objects.bulk_create(
        Touchpoint(member=member, channel="web", kind="page_view", at=now + timedelta(minutes=i))
        for i in range(PAGE_SIZE)
    )
    first = timeline_page(member_id=member.pk)
    assert "merge" not in {e.kind for e in first.entries}

    client = login_as("carol")
    html = client.get(
        reverse("crm:member_detail", args=[member.member_no]),
        {"before": first.next_cursor.encode()},
        headers={"HX-Request": "true"},
    ).content.decode()

    assert 'data-kind="merge"' in html
    assert "0912-***-678" in html
    assert "912345678" not in html and EMAIL not in html and "0987-654-321" not in html


def test_an_erasure_empties_the_free_text_reason_of_the_members_merges(alice):
    from crm.models import MergeLog
    from crm.services import member_forget

    member = _merged_member()

    member_forget(member=member, actor=alice, reason="request #12")

    assert list(MergeLog.objects.values_list("reason", "matched_keys")) == [("", ["erased"])]
