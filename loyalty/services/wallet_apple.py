"""Apple Wallet's verbs: a member's pass from an add-to-wallet link, and the devices that
register for a pass's updates (Apple's pass web service, loyalty.views_wallet_apple).

A device registers with the pass's serial number and its authentication token; the first device
makes the card "in a wallet" (`wallet_pass_added`: one touchpoint), the last one leaving makes it
"removed" (`wallet_pass_removed`). Apple may register the same device twice (200, nothing new),
and two registrations at once are kept apart by the unique (device, pass).
"""

import hmac
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Member
from crm.services.identity import member_survivor
from loyalty.models import WalletDeviceRegistration, WalletPass
from loyalty.services.wallet import wallet_pass_added, wallet_pass_issue, wallet_pass_removed
from loyalty.wallet.apple_pass import pkpass_build
from loyalty.wallet.links import wallet_link_member_no

APPLE = WalletPass.Platform.APPLE


class WalletMemberUnknown(LookupError):
    """The link's member is not (or no longer) a member: unknown or erased."""


@dataclass(frozen=True)
class LinkPass:
    wallet_pass: WalletPass
    pkpass: bytes


def apple_pass_for_link(*, token: str) -> LinkPass:
    """The signed .pkpass of the member a link was made for (following merges), issuing the
    member's Apple card on first ask. Raises WalletLinkInvalid (altered or expired) or
    WalletMemberUnknown."""
    member_no = wallet_link_member_no(token)
    member = member_survivor(member_no=member_no)
    if member is None or member.status == Member.Status.ERASED:
        raise WalletMemberUnknown(member_no)
    wallet_pass = wallet_pass_issue(member_id=member.pk, platform=APPLE)
    return LinkPass(wallet_pass=wallet_pass, pkpass=pkpass_build(wallet_pass=wallet_pass))


def apple_pass_authorised(
    *, pass_type_id: str, serial: str, authorization: str
) -> WalletPass | None:
    """The Apple pass a device asks about when its `Authorization: ApplePass <token>` header is
    that pass's token (compared in constant time); None otherwise (the web service's 401)."""
    scheme, _, token = authorization.partition(" ")
    if scheme != "ApplePass" or not token or pass_type_id != settings.APPLE_WALLET_PASS_TYPE_ID:
        return None
    wallet_pass = WalletPass.objects.filter(serial=serial, platform=APPLE).first()
    expected = wallet_pass.authentication_token if wallet_pass else "-" * len(token)
    if not hmac.compare_digest(token.strip().encode(), expected.encode()) or wallet_pass is None:
        return None
    return wallet_pass


def apple_device_register(
    *, wallet_pass: WalletPass, device_library_id: str, push_token: str, at: datetime | None = None
) -> bool:
    """Register a device for the pass's updates; True when it is new (Apple's 201), False when
    it was registered already (200; its push token is refreshed). The first device puts the
    card in a wallet."""
    at = at or timezone.now()
    with transaction.atomic():
        _pass_lock(wallet_pass)
        updated = WalletDeviceRegistration.objects.filter(
            wallet_pass=wallet_pass, device_library_id=device_library_id
        ).update(push_token=push_token)
        if updated:
            return False
        try:
            with transaction.atomic():
                WalletDeviceRegistration.objects.create(
                    wallet_pass=wallet_pass,
                    device_library_id=device_library_id,
                    push_token=push_token,
                    created_at=at,
                )
        except IntegrityError:  # the same device registering twice at once: one row wins
            return False
        wallet_pass_added(wallet_pass=wallet_pass, at=at)
    return True


def apple_device_unregister(
    *, wallet_pass: WalletPass, device_library_id: str, at: datetime | None = None
) -> bool:
    """Forget a device for the pass; True when it was registered. The last device leaving
    takes the card out of the wallets."""
    with transaction.atomic():
        _pass_lock(wallet_pass)
        deleted, _ = WalletDeviceRegistration.objects.filter(
            wallet_pass=wallet_pass, device_library_id=device_library_id
        ).delete()
        others = WalletDeviceRegistration.objects.filter(wallet_pass=wallet_pass)
        if deleted and not others.exists():
            wallet_pass_removed(wallet_pass=wallet_pass, at=at)
    return bool(deleted)


def _pass_lock(wallet_pass: WalletPass) -> None:
    # Race: two devices registering (or the last two leaving) at once would both see the other
    # one and neither would record the card added (removed); the pass's row lock orders them.
    WalletPass.objects.select_for_update().filter(pk=wallet_pass.pk).first()
