"""Loyalty's personalisation fields for campaigns' messages (campaigns/personalise.py registry).

{{wallet_link}}: the member's add-to-wallet address (loyalty.wallet.links), so a message on any
channel can carry it. One query per batch (the members' numbers); the signing is arithmetic. The
link is a credential to the member's card (it shows the points and adds the card to a phone),
so a preview for a role without crm.unmask_personal_data shows it masked. For SMS it is counted
at its longest (a 20-character member number, the token's timestamp and signature).
"""

from collections.abc import Iterable

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from crm.models import Member
from loyalty.wallet.links import wallet_link_url

WALLET_LINK_FIELD = "wallet_link"
# The token: "<base62 member id>:<base62 timestamp>:<43-character signature>".
_TOKEN_LONGEST = f"{'x' * 11}:{'x' * 6}:{'x' * 43}"


def wallet_links(member_ids: Iterable[int]) -> dict[int, str]:
    """{member_id: add-to-wallet address} for a batch of members (one query: who exists)."""
    ids = Member.objects.filter(pk__in=list(member_ids)).values_list("pk", flat=True)
    return {pk: wallet_link_url(member_id=pk) for pk in ids}


def register_loyalty_personalisation_fields() -> None:
    from campaigns.personalise import PersonalisationField, register_personalisation_field

    public = settings.OMNICHANNEL_PUBLIC_URL
    register_personalisation_field(
        PersonalisationField(
            name=WALLET_LINK_FIELD,
            label=_("Wallet card link"),
            sample=f"{public}/wallet/add/sample:1xaWWg:sample/",
            fetch=wallet_links,
            masked=True,
            longest=f"{public}/wallet/add/{_TOKEN_LONGEST}/",
            url=True,  # a push's tap may lead straight to it
        )
    )
