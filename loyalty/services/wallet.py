"""The wallet card's shared verbs: issue a member's card, mark cards changed, record a card
added to or removed from a wallet (STYLE.md: verbs keyword-only and typed).

A change never pushes at once: `wallet_passes_touch` sets `changed_at` (keeping the earliest
pending change), and the push job (beat, every minute) sends one update per card for all the
changes since its last push, at most once in WALLET_PUSH_MINUTES (DESIGN.md §3, WalletPass).
"""

import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch
from loyalty.models import WalletPass
from omnichannel.channels import Channel

CHUNK = 5_000
TOUCHPOINT_ADDED = "wallet_added"
TOUCHPOINT_REMOVED = "wallet_removed"


def wallet_pass_issue(*, member_id: int, platform: str) -> WalletPass:
    """The member's card for the platform, made on first ask: a random serial and a random
    authentication token (Apple asks at least 16 characters; this is 43). Safe when two
    requests make it at once: the unique (member, platform) keeps one."""
    existing = WalletPass.objects.filter(member_id=member_id, platform=platform).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return WalletPass.objects.create(
                member_id=member_id,
                platform=platform,
                serial=secrets.token_hex(16),
                authentication_token=secrets.token_urlsafe(32),
            )
    except IntegrityError:
        return WalletPass.objects.get(member_id=member_id, platform=platform)


def wallet_passes_touch(
    *,
    member_ids: Iterable[int],
    now: datetime | None = None,
    change_message: str | None = None,
) -> int:
    """Mark the members' cards changed (their points, tier or name moved); the push job sends
    the update. `change_message`, when given, is shown by the wallet with that update (Apple's
    changeMessage, Google's message). Returns the cards marked; members without one cost
    nothing but the UPDATE's index probe."""
    now = now or timezone.now()
    updates = {"changed_at": Coalesce(F("changed_at"), now)}
    if change_message is not None:
        updates["change_message"] = change_message
    ids = sorted(set(member_ids))
    if not ids:
        return 0
    if connection.vendor == "postgresql":
        # One statement for any number of members (an array parameter, as the ledger's
        # lookups): the ledger calls this in every post, so it must stay one statement.
        return WalletPass.objects.extra(
            where=['"loyalty_walletpass"."member_id" = ANY(%s::bigint[])'], params=[ids]
        ).update(**updates)
    touched = 0
    for start in range(0, len(ids), CHUNK):
        touched += WalletPass.objects.filter(member_id__in=ids[start : start + CHUNK]).update(
            **updates
        )
    return touched


def wallet_pass_added(*, wallet_pass: WalletPass, at: datetime | None = None) -> bool:
    """The card is now in a wallet (Apple: its first device registered; Google: saved). True
    when it was not before, and then the member gets a `wallet_added` touchpoint, once."""
    at = at or timezone.now()
    with transaction.atomic():
        moved = WalletPass.objects.filter(pk=wallet_pass.pk, installed=False).update(
            installed=True, installed_at=at, removed_at=None
        )
        if moved:
            _touchpoint(wallet_pass, TOUCHPOINT_ADDED, at)
    return bool(moved)


def wallet_pass_removed(*, wallet_pass: WalletPass, at: datetime | None = None) -> bool:
    """The card left the last wallet it was in (Apple: its last device unregistered; Google:
    deleted). True when it was in one, and then the member gets a `wallet_removed` touchpoint."""
    at = at or timezone.now()
    with transaction.atomic():
        moved = WalletPass.objects.filter(pk=wallet_pass.pk, installed=True).update(
            installed=False, removed_at=at
        )
        if moved:
            _touchpoint(wallet_pass, TOUCHPOINT_REMOVED, at)
    return bool(moved)


def _touchpoint(wallet_pass: WalletPass, kind: str, at: datetime) -> None:
    touchpoints_write_batch(
        touchpoints=[
            TouchpointIn(
                channel=Channel.WALLET,
                kind=kind,
                at=at,
                properties={"wallet": wallet_pass.platform},
            )
        ],
        member_ids=[wallet_pass.member_id],
    )
