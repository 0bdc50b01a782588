"""The add-to-wallet link: signed, expiring, one per member, safe to put in any message.

The token carries the member's number signed with the secret key (django.core.signing, salted
for this use only) and the time it was made; it is read back for WALLET_LINK_MAX_AGE_DAYS. It
says nothing a reader could change into another member's card, and an old link simply expires.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "loyalty.wallet.add"


class WalletLinkInvalid(ValueError):
    """The token was altered, made for something else, or is older than its time."""


def wallet_link_token(*, member_no: str) -> str:
    return signing.TimestampSigner(salt=SALT).sign(member_no)


def wallet_link_member_no(token: str) -> str:
    """The member number a token was made for; raises WalletLinkInvalid."""
    max_age = settings.WALLET_LINK_MAX_AGE_DAYS * 24 * 60 * 60
    try:
        return signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise WalletLinkInvalid("expired") from exc
    except signing.BadSignature as exc:
        raise WalletLinkInvalid("bad signature") from exc


def wallet_link_url(*, member_no: str) -> str:
    """The absolute add-to-wallet address for a member (OMNICHANNEL_PUBLIC_URL)."""
    path = reverse("wallet:add", args=[wallet_link_token(member_no=member_no)])
    return f"{settings.OMNICHANNEL_PUBLIC_URL}{path}"
