"""The demo's wallet cards for `make run` (`manage.py seed_demo_loyalty`, after the programme):
a few hundred members hold the card in Apple Wallet, Google Wallet or both, some removed it
since, and their timelines show when.

Written set-wise, as the services would have left it (loyalty.services.wallet): one WalletPass
per member and wallet (a serial and an authentication token), the card in a wallet
(`installed`, `installed_at`) or taken out again (`removed_at`), an Apple device registration
for each Apple card still in a wallet, and the `wallet_added` / `wallet_removed` touchpoints at
those moments (crm's touchpoints_write_batch, properties {"wallet": platform}). Nothing calls
Apple or Google: no push is pending (`changed_at` empty), and WALLET_PUSH_ENABLED is off in the
demo anyway.

Holders come mostly from repeat buyers (the seeds' story: customers with the card buy more
often), so the KPI pages' holders-vs-the-rest comparison has something to show. Deterministic
(random.Random(seed)); a second run writes nothing.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from crm.models import Member
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch
from loyalty.models import WalletDeviceRegistration, WalletPass
from loyalty.services.wallet import TOUCHPOINT_ADDED, TOUCHPOINT_REMOVED
from omnichannel.channels import Channel

HOLDERS = 300
CANDIDATES = 5_000  # read at most this many repeat buyers to draw from
REPEAT_SHARE = 0.8  # of the holders, drawn from repeat buyers (the rest from anyone)
# Which wallets a holder uses: iPhones are about half of Taiwan's phones.
WALLETS = (("apple",), ("google",), ("apple", "google"))
WALLET_WEIGHTS = (0.55, 0.35, 0.10)
ADDED_SHARE = 0.85  # of the cards issued, added to a wallet (the rest downloaded, not kept)
REMOVED_SHARE = 0.15  # of the cards added, removed since
ISSUED_WITHIN_DAYS = 180


@dataclass(frozen=True)
class DemoWallets:
    cards: int
    installed: int
    removed: int
    devices: int


def demo_wallets_seed(
    *, seed: int = 13, now: datetime | None = None, holders: int = HOLDERS
) -> DemoWallets | None:
    """Give a few hundred demo members their wallet cards once; None when cards exist already
    (or there are no members)."""
    if WalletPass.objects.exists():
        return None
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 (demo data, repeatable)
    members = _holders(rng, holders)
    if not members:
        return None
    passes: list[WalletPass] = []
    touchpoints: list[TouchpointIn] = []
    touchpoint_members: list[int] = []
    for member_id, joined_at in members:
        first = max(joined_at, now - timedelta(days=ISSUED_WITHIN_DAYS))
        span = max((now - first).total_seconds() - 86_400, 3_600)
        issued = first + timedelta(seconds=rng.uniform(0, span))
        for platform in rng.choices(WALLETS, WALLET_WEIGHTS)[0]:
            card = WalletPass(
                member_id=member_id,
                platform=platform,
                serial=f"{rng.getrandbits(128):032x}",
                authentication_token=f"{rng.getrandbits(256):064x}",
                created_at=issued,
                updated_at=issued,
            )
            passes.append(card)
            if rng.random() >= ADDED_SHARE:
                continue
            card.installed = True
            card.installed_at = issued + timedelta(seconds=rng.uniform(20, 600))
            touchpoints.append(_touchpoint(TOUCHPOINT_ADDED, card.installed_at, platform))
            touchpoint_members.append(member_id)
            if rng.random() < REMOVED_SHARE:
                left = (now - card.installed_at).total_seconds()
                card.installed = False
                card.removed_at = card.installed_at + timedelta(seconds=rng.uniform(0.1, 1) * left)
                touchpoints.append(_touchpoint(TOUCHPOINT_REMOVED, card.removed_at, platform))
                touchpoint_members.append(member_id)
    with transaction.atomic():
        WalletPass.objects.bulk_create(passes, batch_size=1_000)
        devices = [
            WalletDeviceRegistration(
                device_library_id=f"{rng.getrandbits(128):032x}",
                push_token=f"{rng.getrandbits(256):064x}",
                wallet_pass=card,
                created_at=card.installed_at,
            )
            for card in passes
            if card.platform == WalletPass.Platform.APPLE and card.installed
        ]
        WalletDeviceRegistration.objects.bulk_create(devices, batch_size=1_000)
        touchpoints_write_batch(touchpoints=touchpoints, member_ids=touchpoint_members)
    return DemoWallets(
        cards=len(passes),
        installed=sum(card.installed for card in passes),
        removed=sum(card.removed_at is not None for card in passes),
        devices=len(devices),
    )


def _holders(rng: random.Random, holders: int) -> list[tuple[int, datetime]]:
    """(member id, joined at) of the demo's holders: mostly repeat buyers, a few anyone."""
    active = Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk")
    repeat = list(
        active.filter(stats__orders_count__gte=2).values_list("pk", "joined_at")[:CANDIDATES]
    )
    anyone = list(active.values_list("pk", "joined_at")[:CANDIDATES])
    chosen = dict(rng.sample(repeat, min(int(holders * REPEAT_SHARE), len(repeat))))
    rest = [row for row in anyone if row[0] not in chosen]
    chosen.update(rng.sample(rest, min(holders - len(chosen), len(rest))))
    return sorted(chosen.items())


def _touchpoint(kind: str, at: datetime, platform: str) -> TouchpointIn:
    return TouchpointIn(channel=Channel.WALLET, kind=kind, at=at, properties={"wallet": platform})
