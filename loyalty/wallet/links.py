"""The add-to-wallet link: signed, expiring, one per member, safe to put in any message.

The token carries an opaque id (the member's primary key, base 62: not the member number a till
would accept, not a name) signed with the secret key (django.core.signing, salted for this use
only) and the time it was made; it is read back for WALLET_LINK_MAX_AGE_DAYS. A reader can
neither change it into another member's card nor learn who it is for from the address; an old
link simply expires. Whoever holds a live link can still download the member's card (that is
what the link is for), so it is personal: masked in previews and shown only to roles that may
unmask.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from crm.models import Member

SALT = "loyalty.wallet.add"


class WalletLinkInvalid(ValueError):
    """The token was altered, made for something else, or is older than its time."""

    @property
    def expired(self) -> bool:
        """Only too old (the signature was good): the member asks for a new link."""
        return isinstance(self.__cause__, signing.SignatureExpired)


def wallet_link_token(*, member_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign(signing.b62_encode(member_id))


def wallet_link_member_no(token: str) -> str:
    """The number of the member a token was made for (as they were then: a merged member's
    number, which the views follow to the survivor); raises WalletLinkInvalid."""
    max_age = settings.WALLET_LINK_MAX_AGE_DAYS * 24 * 60 * 60
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise WalletLinkInvalid("expired") from exc
    except signing.BadSignature as exc:
        raise WalletLinkInvalid("bad signature") from exc
    member_no = (
        Member.objects.filter(pk=signing.b62_decode(value))
        .values_list("member_no", flat=True)
        .first()
    )
    if member_no is None:
        raise WalletLinkInvalid("unknown member")
    return member_no


def wallet_link_url(*, member_id: int) -> str:
    """The absolute add-to-wallet address for a member (OMNICHANNEL_PUBLIC_URL)."""
    path = reverse("wallet:add", args=[wallet_link_token(member_id=member_id)])
    return f"{settings.OMNICHANNEL_PUBLIC_URL}{path}"
