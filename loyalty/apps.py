from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

EARN_DRAIN_UID = "loyalty-earn-drain"


def _register_crm_cards() -> None:
    """Loyalty in crm's pages through crm's registries: the profile's points card, the
    timeline's points, coupons and tiers, the segment rules and the member list's tier filter."""
    from crm.profile_cards import ProfileCard, register_profile_card
    from loyalty.segment_rules import register_loyalty_list_filters, register_loyalty_segment_rules
    from loyalty.selectors_profile import points_card_context
    from loyalty.timeline import register_loyalty_timeline_sources

    register_profile_card(ProfileCard("loyalty", "loyalty/profile_card.html", points_card_context))
    register_loyalty_timeline_sources()
    register_loyalty_segment_rules()
    register_loyalty_list_filters()


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self) -> None:
        _register_crm_cards()
        from crm.signals import order_changes_written
        from loyalty.tasks import earn_drain_request

        # Orders earn promptly after an import, API or demo batch commits (the beat job is
        # the safety net); crm knows nothing of loyalty.
        order_changes_written.connect(earn_drain_request, dispatch_uid=EARN_DRAIN_UID)
        from loyalty.hooks import register_loyalty_member_hook

        # Points, holds, coupons and tiers follow crm's merges, their undo and erasure.
        register_loyalty_member_hook()
        from loyalty.wallet.apns import register_apple_wallet_updater

        # The wallet push job hands Apple's changed cards to APNs.
        register_apple_wallet_updater()
