"""How a changed card reaches each wallet: one updater per platform, registered by its module.

The push job (loyalty.services.wallet_push) claims the cards whose changes are due, then hands
each platform's card ids to its updater in one call: Apple's tells every registered device
through APNs (the device then fetches the new pass), Google's patches each loyalty object
through the Wallet REST API. An updater answers with what happened, and the job keeps the
figures; with WALLET_PUSH_ENABLED off, the job calls no updater (nothing leaves the machine).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from omnichannel.registry import Registry


@dataclass
class UpdateOutcome:
    sent: int = 0  # pushes (Apple: one per device) or patches (Google: one per object)
    failed: int = 0
    # Cards to push again on the next run (the provider was busy or down): the updater's call.
    retry_pass_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a few, for the log


@dataclass(frozen=True)
class WalletUpdater:
    platform: str  # WalletPass.Platform value
    update: Callable[[Sequence[int]], UpdateOutcome]  # card (WalletPass) ids -> outcome


WALLET_UPDATERS: Registry[WalletUpdater] = Registry("wallet updater", key=lambda u: u.platform)


def register_wallet_updater(updater: WalletUpdater) -> None:
    WALLET_UPDATERS.register(updater)
