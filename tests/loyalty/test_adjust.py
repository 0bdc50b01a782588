"""Manual adjustments: points ± with a mandatory reason, through the ledger, audited, once."""

from datetime import date

import pytest
from django.conf import settings
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone, translation

from crm.models import Member
from loyalty.expiry import credit_expires_on
from loyalty.models import PointsAccount, PointsTransaction, Programme
from loyalty.services.adjustments import (
    ERROR_NO_REASON,
    AdjustmentInvalid,
    InsufficientPoints,
    points_adjust,
)
from omnichannel.models import AuditEvent
from tests.factories import MemberFactory
from tests.loyalty.overview_data import Kind, account_for, post, taipei

pytestmark = pytest.mark.django_db


def _sum(account: PointsAccount) -> int:
    return account.transactions.aggregate(total=Sum("points"))["total"] or 0


def test_an_adjustment_posts_an_entry_with_its_reason_and_actor(bob):
    member = MemberFactory()

    entry = points_adjust(
        member=member,
        points=150,
        reason="  Lost receipt,  store 12 ",
        actor_id=bob.pk,
        idempotency_key="t1",
    )

    account = PointsAccount.objects.get(member=member)
    assert (entry.kind, entry.points, entry.balance_after) == (Kind.ADJUST, 150, 150)
    assert entry.reason == "Lost receipt, store 12" and entry.actor_id == bob.pk
    assert entry.source == PointsTransaction.Source.PAGE
    assert account.balance == 150 == _sum(account)


def test_a_credit_expires_like_earned_points():
    programme = Programme.current()
    programme.expiry_months = 12
    programme.save()

    entry = points_adjust(
        member=MemberFactory(), points=10, reason="goodwill", actor_id=None, idempotency_key="e"
    )

    assert entry.expires_on is not None and (entry.expires_on - entry.at.date()).days in (365, 366)


def testcredit_expiry_day_keeps_the_month_end():
    assert credit_expires_on(earned_on=date(2026, 1, 31), months=1) == date(2026, 2, 28)
    assert credit_expires_on(earned_on=date(2024, 2, 29), months=12) == date(2025, 2, 28)
    assert credit_expires_on(earned_on=date(2026, 11, 15), months=3) == date(2027, 2, 15)


def test_a_debit_larger_than_the_balance_is_refused_and_posts_nothing():
    account = account_for()
    post(account, Kind.EARN, 100, taipei(timezone.localdate()))

    with pytest.raises(InsufficientPoints) as refused:
        points_adjust(
            member=account.member, points=-101, reason="oops", actor_id=None, idempotency_key="d"
        )

    account.refresh_from_db()
    assert "100" in str(refused.value) and "101" in str(refused.value)
    assert account.balance == 100 and account.entries == 1


def test_the_same_key_adjusts_once():
    member = MemberFactory()

    first = points_adjust(member=member, points=40, reason="x", actor_id=None, idempotency_key="k")
    again = points_adjust(member=member, points=40, reason="x", actor_id=None, idempotency_key="k")

    assert first.pk == again.pk
    assert PointsAccount.objects.get(member=member).balance == 40


@pytest.mark.parametrize(
    ("points", "reason"), [(0, "why"), (5, "   "), (2_000_000, "big"), (-2_000_000, "big")]
)
def test_zero_points_no_reason_or_too_many_are_refused(points, reason):
    with pytest.raises(AdjustmentInvalid):
        points_adjust(
            member=MemberFactory(), points=points, reason=reason, actor_id=None, idempotency_key="z"
        )
    assert not PointsTransaction.objects.exists()


def test_a_merged_member_cannot_be_adjusted():
    member = MemberFactory(status=Member.Status.MERGED, merged_into=MemberFactory())

    with pytest.raises(AdjustmentInvalid):
        points_adjust(member=member, points=5, reason="r", actor_id=None, idempotency_key="m")


def test_an_adjustment_is_audited_without_personal_data(bob):
    member = MemberFactory(name="陳美玲")

    entry = points_adjust(
        member=member, points=30, reason="birthday gift", actor_id=bob.pk, idempotency_key="a"
    )

    event = AuditEvent.objects.get(action="points.adjusted")
    assert event.actor_id == bob.pk and event.object_id == str(entry.account_id)
    assert event.summary_params == {"member_no": member.member_no, "points": "+30", "seq": 1}
    assert "陳美玲" not in str(event.summary_params)


# --- The form on the member's points page -----------------------------------------------------


def _url(member) -> str:
    return reverse("loyalty:member_points", args=[member.member_no])


def test_the_marketer_adjusts_from_the_page(login_as, bob):
    member = MemberFactory()
    client = login_as("bob")
    token = client.get(_url(member)).context["adjust_form"]["token"].value()

    response = client.post(_url(member), {"points": "200", "reason": "Complaint", "token": token})
    client.post(_url(member), {"points": "200", "reason": "Complaint", "token": token})  # again

    assert response.status_code == 302
    account = PointsAccount.objects.get(member=member)
    assert account.balance == 200
    entry = account.transactions.get()
    assert entry.actor_id == bob.pk and entry.reason == "Complaint"


def test_an_overspend_keeps_what_was_typed_and_says_why(login_as):
    account = account_for()
    post(account, Kind.EARN, 50, taipei(timezone.localdate()))

    page = login_as("bob").post(
        _url(account.member), {"points": "-80", "reason": "Wrong order", "token": "t-1"}
    )

    html = page.content.decode()
    assert page.status_code == 400
    assert "50" in html and "80" in html and 'data-testid="adjust-error"' in html
    assert 'value="-80"' in html and 'value="Wrong order"' in html
    account.refresh_from_db()
    assert account.balance == 50


def test_a_missing_reason_is_shown_beside_the_field(login_as):
    member = MemberFactory()

    page = login_as("bob").post(_url(member), {"points": "10", "reason": " ", "token": "t-2"})

    assert page.status_code == 400
    with translation.override(settings.LANGUAGE_CODE):
        assert page.context["adjust_form"].errors["reason"] == [str(ERROR_NO_REASON)]
    assert 'value="10"' in page.content.decode()
    assert not PointsTransaction.objects.exists()


def test_the_analyst_may_not_adjust(login_as):
    member = MemberFactory()

    response = login_as("carol").post(
        _url(member), {"points": "10", "reason": "no", "token": "t-3"}
    )

    assert response.status_code == 403
    assert not PointsTransaction.objects.exists()
