"""The loyalty pages' tabs: overview, earn rules, tiers, rewards, coupons.

Each part of the loyalty module brings its own page; a tab shows only once its URL name
resolves, so a branch without the earn-rules page (say) renders its tabs without that one and
lights it up when the page arrives. A tab also hides from a user without its permission.
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class LoyaltyTab:
    url_name: str
    label: Promise
    icon: str
    permission: str = "loyalty.view_pointsaccount"


LOYALTY_TABS = (
    LoyaltyTab("loyalty:index", _("Overview"), "speedometer2"),
    LoyaltyTab("loyalty:rules", _("Earn rules"), "sliders", "loyalty.view_earnrule"),
    LoyaltyTab("loyalty:tiers", _("Tiers"), "layers", "loyalty.view_tier"),
    LoyaltyTab("loyalty:rewards", _("Rewards"), "gift", "loyalty.view_reward"),
    LoyaltyTab("loyalty:coupons", _("Coupons"), "ticket-perforated", "loyalty.view_coupon"),
)


def loyalty_tabs(*, user, current: str) -> list[dict]:
    """The tabs this user may open whose pages exist: url, label, icon, active."""
    tabs = []
    for tab in LOYALTY_TABS:
        if not user.has_perm(tab.permission):
            continue
        try:
            url = reverse(tab.url_name)
        except NoReverseMatch:
            continue  # that page is not built (yet)
        tabs.append(
            {"url": url, "label": tab.label, "icon": tab.icon, "active": current == tab.url_name}
        )
    return tabs
