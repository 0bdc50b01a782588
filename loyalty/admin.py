"""The Django admin of loyalty: operators fix data here, but the ledger is append-only.

- The programme's settings, tiers, earn rules and rewards are edited here as on their pages.
- Points move only through the ledger's services: PointsTransaction is read-only (no add,
  change or delete, for anyone), and a PointsAccount's balance, entry count and tier are shown,
  never edited. A correction is an adjustment with a reason: the account's "Adjust points" link
  and the "Adjust points…" action lead to the member's points page, where points_adjust posts
  it (audited, on the timeline).
- Holds, coupons and tier changes are records of what the services did: read-only, but a
  coupon's expiry may be moved (a goodwill extension).

Every list is bounded (omnichannel/admin_tools.py): no COUNT(*) of a big table, fixed-choice
filters, searches by member number or identifier through crm's index-backed member search,
only indexed columns sortable. Members are shown by number, never by name.
"""

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.admin.base import BoundedAdmin
from crm.admin.search import MemberSearchMixin
from loyalty.models import (
    Coupon,
    EarnRule,
    GoogleWalletCallback,
    LoyaltyJob,
    LoyaltyJobMessage,
    LoyaltyJobRun,
    PointsAccount,
    PointsHold,
    PointsTransaction,
    Programme,
    Reward,
    Tier,
    TierChange,
)
from loyalty.resources import PointsHistoryResource
from loyalty.services.coupons import coupon_code_normalise
from omnichannel.admin_tools import BoundedListAdmin, choices_filter

ADJUST_PERMISSION = "loyalty.adjust_points"
EXPORT_PERMISSION = "loyalty.export_points"


def _member_no(account: PointsAccount) -> str:
    return account.member.member_no


class ReadOnlyAdmin(BoundedListAdmin):
    """A bounded list of records the services write: shown, never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AccountMemberMixin(MemberSearchMixin):
    """Rows that belong to a points account, searched and shown by the account's member."""

    member_search_fields = ("account__member",)
    search_fields = ("=account__member__member_no",)

    @admin.display(description=_("member number"))
    def member_no(self, obj) -> str:
        return _member_no(obj.account)


# --- Settings the marketer edits ------------------------------------------------------------


class EditedOnTheLoyaltyPagesAdmin(admin.ModelAdmin):
    """Read-only here: the programme's terms, tiers and earn rules are changed on /loyalty/,
    whose saves run the services (an audit entry; a tier edit re-evaluates every member and
    records the moves). A save here would skip all of that."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Programme)
class ProgrammeAdmin(EditedOnTheLoyaltyPagesAdmin):
    list_display = ("__str__", "spend_per_point_twd", "expiry_months", "point_value_twd")


@admin.register(Tier)
class TierAdmin(EditedOnTheLoyaltyPagesAdmin):
    list_display = ("name", "rank", "threshold_twd", "earn_multiplier", "colour")
    ordering = ("rank",)
    search_fields = ("name",)


@admin.register(EarnRule)
class EarnRuleAdmin(EditedOnTheLoyaltyPagesAdmin):
    list_display = ("name", "kind", "channel", "multiplier", "starts_at", "ends_at", "is_active")
    list_filter = ("kind", "channel", "is_active")
    search_fields = ("name",)
    raw_id_fields = ("stores", "updated_by")


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "points_price",
        "discount_twd",
        "stock",
        "issued_count",
        "available_from",
        "available_until",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("issued_count",)  # counted by the redemption service


# --- The ledger and its accounts: read-only -----------------------------------------------------


@admin.register(PointsAccount)
class PointsAccountAdmin(MemberSearchMixin, ReadOnlyAdmin):
    list_display = (
        "member_no",
        "balance",
        "tier",
        "tier_since",
        "entries",
        "last_earned_at",
        "adjust_link",
    )
    list_filter = ("tier",)  # a handful of tiers: their own small table
    list_select_related = ("member", "tier")
    ordering = ("-pk",)
    sortable_by = ()
    actions = ("adjust_points",)
    fields = (
        "member_no",
        "balance",
        "entries",
        "tier",
        "tier_since",
        "downgrade_due_at",
        "spend_12m_twd",
        "spend_12m_at",
        "last_earned_at",
        "last_redeemed_at",
        "created_at",
        "adjust_link",
    )
    readonly_fields = fields

    @admin.display(description=_("member number"))
    def member_no(self, account: PointsAccount) -> str:
        return _member_no(account)

    @admin.display(description=_("correction"))
    def adjust_link(self, account: PointsAccount) -> str:
        url = reverse("loyalty:member_points", args=[account.member.member_no])
        return format_html('<a href="{}">{}</a>', url, _("Points history · adjust points"))

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADJUST_PERMISSION)

    @admin.action(description=_("Adjust points…"), permissions=["adjust"])
    def adjust_points(self, request: HttpRequest, queryset):
        """Points are corrected one member at a time, with a reason, on the member's page."""
        accounts = list(queryset.select_related("member")[:2])
        if len(accounts) != 1:
            self.message_user(
                request,
                _("Choose one account: points are adjusted one member at a time."),
                level=messages.WARNING,
            )
            return None
        return redirect("loyalty:member_points", member_no=accounts[0].member.member_no)


@admin.register(PointsTransaction)
class PointsTransactionAdmin(AccountMemberMixin, BoundedAdmin):
    resource_classes = (PointsHistoryResource,)
    export_permission = EXPORT_PERMISSION
    list_display = (
        "member_no",
        "seq",
        "kind",
        "points",
        "balance_after",
        "source",
        "at",
        "reason",
    )
    list_filter = (
        choices_filter("kind", _("kind"), PointsTransaction.Kind.choices),
        choices_filter("source", _("source"), PointsTransaction.Source.choices),
        ("at", admin.DateFieldListFilter),
    )
    list_select_related = ("account__member",)
    ordering = ("-pk",)
    sortable_by = ()
    search_help_text = _("A member number or identifier, or an entry's idempotency key.")
    readonly_fields = [field.name for field in PointsTransaction._meta.fields]

    def extra_search_q(self, term: str) -> Q:
        return Q(idempotency_key=term.strip())  # unique: an index lookup

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(PointsHold)
class PointsHoldAdmin(AccountMemberMixin, ReadOnlyAdmin):
    list_display = ("member_no", "points", "discount_twd", "status", "order_no", "expires_at")
    list_filter = (choices_filter("status", _("status"), PointsHold.Status.choices),)
    list_select_related = ("account__member",)
    ordering = ("-pk",)
    sortable_by = ()


@admin.register(TierChange)
class TierChangeAdmin(AccountMemberMixin, ReadOnlyAdmin):
    list_display = ("member_no", "from_tier", "to_tier", "reason", "spend_12m_twd", "at")
    list_filter = (
        choices_filter("reason", _("reason"), TierChange.Reason.choices),
        "to_tier",
        ("at", admin.DateFieldListFilter),
    )
    list_select_related = ("account__member", "from_tier", "to_tier")
    ordering = ("-at", "-pk")
    sortable_by = ()


@admin.register(Coupon)
class CouponAdmin(AccountMemberMixin, BoundedListAdmin):
    list_display = ("code", "member_no", "reward", "status", "issued_at", "expires_at", "used_at")
    list_filter = (
        choices_filter("status", _("status"), Coupon.Status.choices),
        ("issued_at", admin.DateFieldListFilter),
    )
    list_select_related = ("account__member", "reward")
    ordering = ("-pk",)
    sortable_by = ()
    search_help_text = _("A coupon code, or a member number or identifier.")
    readonly_fields = (
        "code",
        "reward",
        "account",
        "status",
        "issued_at",
        "used_at",
        "used_via",
        "used_order_no",
        "used_store",
        "used_by",
        "voided_at",
        "voided_by",
        "void_reason",
    )

    def extra_search_q(self, term: str) -> Q:
        return Q(code=coupon_code_normalise(term))  # unique: an index lookup

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # coupons are issued by redeeming a reward

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(GoogleWalletCallback)
class GoogleWalletCallbackAdmin(ReadOnlyAdmin):
    """Google's verified save/delete callbacks, as received (searched by object id or nonce)."""

    list_display = ("received_at", "event_type", "object_id", "card_member_no")
    list_filter = (
        choices_filter("event_type", _("event"), GoogleWalletCallback.Event.choices),
        ("received_at", admin.DateFieldListFilter),
    )
    list_select_related = ("wallet_pass__member",)
    search_fields = ("=object_id", "=nonce")
    ordering = ("-received_at", "-pk")
    sortable_by = ()

    @admin.display(description=_("member number"))
    def card_member_no(self, obj: GoogleWalletCallback) -> str:
        return obj.wallet_pass.member.member_no if obj.wallet_pass else ""


# --- The beat jobs' records (loyalty.services.jobs): read-only ------------------------------


@admin.register(LoyaltyJobRun)
class LoyaltyJobRunAdmin(ReadOnlyAdmin):
    """Nothing personal: a run holds figures, its campaign (a name) and an error class."""

    list_display = (
        "job",
        "day",
        "period",
        "status",
        "warning",
        "started_at",
        "finished_at",
        "campaign",
        "error",
    )
    list_filter = (
        choices_filter("job", _("job"), LoyaltyJob.choices),
        choices_filter("status", _("status"), LoyaltyJobRun.Status.choices),
    )
    list_select_related = ("campaign",)
    ordering = ("-started_at", "-pk")
    sortable_by = ()
    fields = (
        "job",
        "day",
        "period",
        "status",
        "warning",
        "started_at",
        "finished_at",
        "counts",
        "campaign",
        "error",
    )
    readonly_fields = fields


@admin.register(LoyaltyJobMessage)
class LoyaltyJobMessageAdmin(MemberSearchMixin, ReadOnlyAdmin):
    list_display = ("member_no", "job", "period", "path", "coupon", "created_at")
    list_filter = (
        choices_filter("job", _("job"), LoyaltyJob.choices),
        choices_filter("path", _("sent as"), LoyaltyJobMessage.Path.choices),
    )
    list_select_related = ("member", "coupon")
    member_search_fields = ("member",)
    search_fields = ("=member__member_no",)
    ordering = ("-pk",)
    sortable_by = ()
    # The member by number only: the member's own link would print their name (Member.__str__).
    fields = ("member_no", "job", "period", "run", "path", "reason", "coupon", "created_at")
    readonly_fields = fields

    @admin.display(description=_("member number"))
    def member_no(self, obj: LoyaltyJobMessage) -> str:
        return obj.member.member_no


# The wallet cards and their devices (read-only), in their own module.
from loyalty import admin_wallet  # noqa: E402, F401
