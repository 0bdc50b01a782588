"""django-import-export resources of loyalty: the columns of the points history's export (the
member's page and the admin's ledger list write the same file).

The rows hold the member's number, never their name or identifiers, so a masked and an unmasked
export are the same file; the reason is the marketer's own note.
"""

from django.utils.translation import gettext_lazy as _
from import_export import fields

from crm.pii import mask_token
from crm.resources import CrmResource
from loyalty.models import PointsTransaction


class PointsHistoryResource(CrmResource):
    export_select_related = ("account__member", "order", "reward", "coupon", "actor")
    export_labels = {
        **CrmResource.export_labels,
        "member_no": _("member number"),
        "order": _("order number"),
        "reward": _("reward"),
        "coupon": _("coupon"),
        "actor": _("by"),
    }
    member_no = fields.Field(attribute="account__member__member_no", column_name="member_no")
    order = fields.Field(column_name="order")
    reward = fields.Field(attribute="reward__name", column_name="reward")
    coupon = fields.Field(column_name="coupon")
    actor = fields.Field(attribute="actor__username", column_name="actor")

    class Meta(CrmResource.Meta):
        model = PointsTransaction
        fields = (
            "member_no",
            "seq",
            "at",
            "kind",
            "points",
            "balance_after",
            "order",
            "reward",
            "coupon",
            "expires_on",
            "reason",
            "source",
            "actor",
        )
        export_order = fields

    def dehydrate_order(self, entry: PointsTransaction) -> str:
        # The till's order number where it named one, else the order's own number.
        if entry.order_no:
            return entry.order_no
        return entry.order.external_no if entry.order_id and entry.order else ""

    def dehydrate_coupon(self, entry: PointsTransaction) -> str:
        # A coupon code is money at the till: the export names it, never gives it whole.
        return mask_token(entry.coupon.code) if entry.coupon_id else ""
