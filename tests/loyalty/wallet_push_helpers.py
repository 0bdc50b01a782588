"""What the wallet push tests share: a local APNs the settings point at, cards on devices, and
points posted through the ledger."""

import itertools
import secrets
from datetime import timedelta

from django.utils import timezone

from loyalty.models import PointsTransaction, WalletDeviceRegistration, WalletPass
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from loyalty.services.wallet import wallet_pass_issue
from tests.loyalty.servers.apns import ApnsServer, apns_key_write

TOPIC = "pass.test.omnichannel.member"
_keys = itertools.count(1)


def apns_running(tmp_path, settings):
    """(A fixture's body) a local APNs with its own key and TLS chain; the project's settings
    point at it and pushing is on."""
    server = ApnsServer(key=apns_key_write(tmp_path), topic=TOPIC, folder=tmp_path).start()
    for name, value in server.settings().items():
        setattr(settings, name, value)
    settings.WALLET_PUSH_ENABLED = True
    settings.WALLET_PUSH_MINUTES = 5
    yield server
    server.stop()


def device_token() -> str:
    return secrets.token_hex(32)


def apple_card(member, *push_tokens: str, devices: list[str] | None = None) -> WalletPass:
    """The member's Apple card, registered on a device per push token (installed)."""
    card = wallet_pass_issue(member_id=member.pk, platform=WalletPass.Platform.APPLE)
    for i, push_token in enumerate(push_tokens):
        WalletDeviceRegistration.objects.create(
            device_library_id=(devices[i] if devices else f"device-{push_token[:12]}"),
            push_token=push_token,
            wallet_pass=card,
        )
    if push_tokens:
        WalletPass.objects.filter(pk=card.pk).update(
            installed=True, installed_at=timezone.now() - timedelta(days=1)
        )
    card.refresh_from_db()
    return card


def points_post(member, points: int, *, at=None) -> None:
    """One ledger entry for the member (an earning), through the ledger's one verb."""
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    entries_post(
        entries=[
            Entry(
                account_id=account_id,
                kind=PointsTransaction.Kind.EARN if points > 0 else PointsTransaction.Kind.ADJUST,
                points=points,
                idempotency_key=f"wallet-test:{member.pk}:{next(_keys)}",
                source=PointsTransaction.Source.ORDER,
                expires_on=timezone.localdate() + timedelta(days=365) if points > 0 else None,
                at=at,
            )
        ]
    )
