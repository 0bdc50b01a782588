from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

EARN_DRAIN_UID = "loyalty-earn-drain"


def _register_crm_cards() -> None:
    """Loyalty in crm's pages through crm's registries: the profile's points and wallet cards,
    the timeline's points, coupons and tiers, the segment rules and the member list's tier
    filter."""
    from crm.profile_cards import ProfileCard, register_profile_card
    from loyalty.segment_rules import register_loyalty_list_filters, register_loyalty_segment_rules
    from loyalty.selectors_profile import points_card_context, wallet_card_context
    from loyalty.timeline import register_loyalty_timeline_sources

    register_profile_card(ProfileCard("loyalty", "loyalty/profile_card.html", points_card_context))
    register_profile_card(
        ProfileCard("wallet", "loyalty/wallet_profile_card.html", wallet_card_context)
    )
    register_loyalty_timeline_sources()
    register_loyalty_segment_rules()
    register_loyalty_list_filters()


def _register_jobs() -> None:
    """The automated messages' audience sources ("loyalty.birthday", "loyalty.points_reminder")
    and the personalisation fields their content uses, in campaigns' registries."""
    from campaigns.personalise import PersonalisationField, register_personalisation_field
    from loyalty.selectors_jobs import (
        birthday_coupons_by_member,
        points_by_member,
        points_expiring_by_member,
        points_expiry_date_by_member,
    )
    from loyalty.services.jobs import register_loyalty_audience_sources

    register_loyalty_audience_sources()
    for field in (
        PersonalisationField(
            name="points", label=_("Points"), sample="1,280", fetch=points_by_member
        ),
        PersonalisationField(
            name="points_expiring",
            label=_("Points expiring soon"),
            sample="320",
            fetch=points_expiring_by_member,
        ),
        PersonalisationField(
            name="points_expiry_date",
            label=_("Points expiry date"),
            sample="2027/01/06",
            fetch=points_expiry_date_by_member,
        ),
        # A coupon code is as good as money at the till: masked in previews.
        PersonalisationField(
            name="birthday_coupon",
            label=_("Birthday coupon"),
            sample="ABCD-EFGH-JKLM",
            fetch=birthday_coupons_by_member,
            masked=True,
        ),
    ):
        register_personalisation_field(field)


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
        from loyalty.wallet.hooks import register_wallet_member_hook

        # Wallet cards follow them too: moved or dropped on a merge, deleted on erasure.
        register_wallet_member_hook()
        from loyalty.personalise import register_loyalty_personalisation_fields

        # {{wallet_link}} in any channel's message (campaigns' personalisation registry).
        register_loyalty_personalisation_fields()
        from loyalty.wallet.google_updater import register_google_wallet_updater

        # Changed Google cards reach Google Wallet through the push job (loyalty.wallet.updaters).
        register_google_wallet_updater()
        _register_jobs()
        from loyalty.wallet.apns import register_apple_wallet_updater

        # The wallet push job hands Apple's changed cards to APNs.
        register_apple_wallet_updater()
