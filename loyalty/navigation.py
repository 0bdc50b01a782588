"""The loyalty pages' tabs: overview, earn rules, tiers, rewards, coupons, jobs.

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
    url_names: tuple[str, ...]  # the first that resolves is the link; any of them is "active"
    label: Promise
    icon: str
    permission: str = "loyalty.view_pointsaccount"


LOYALTY_TABS = (
    LoyaltyTab(("loyalty:index",), _("Overview"), "speedometer2"),
    LoyaltyTab(("loyalty:earn_rules",), _("Earn rules"), "sliders", "loyalty.view_earnrule"),
    LoyaltyTab(("loyalty:tiers",), _("Tiers"), "layers", "loyalty.view_tier"),
    LoyaltyTab(("loyalty:reward_list",), _("Rewards"), "gift", "loyalty.view_reward"),
    LoyaltyTab(
        ("loyalty:coupon_lookup",), _("Coupons"), "ticket-perforated", "loyalty.view_coupon"
    ),
    LoyaltyTab(("loyalty:jobs",), _("Jobs"), "clock-history"),
)


def loyalty_tabs(*, user, current: str) -> list[dict]:
    """The tabs this user may open whose pages exist: url, label, icon, active."""
    tabs = []
    for tab in LOYALTY_TABS:
        if not user.has_perm(tab.permission):
            continue
        url = _first_url(tab.url_names)
        if url is None:
            continue  # that page is not built (yet)
        tabs.append(
            {"url": url, "label": tab.label, "icon": tab.icon, "active": current in tab.url_names}
        )
    return tabs


def _first_url(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None
