"""Google Wallet's save and delete callbacks, recorded once each (loyalty.wallet.google_callbacks
checks the signature; this records the event and moves the card).

Google may deliver a callback more than once: the message's nonce is unique in
GoogleWalletCallback, so a repeat records nothing and moves no card again. A save makes the card
installed (a `wallet_added` touchpoint, once), a delete removed (`wallet_removed`). An object id
that names no card of ours is recorded without one: nothing else to do.
"""

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.models import GoogleWalletCallback, WalletPass
from loyalty.services.wallet import wallet_pass_added, wallet_pass_removed
from loyalty.wallet.google import serial_from_object_id
from loyalty.wallet.google_callbacks import CallbackMessage, callback_verify


def google_callback_record(
    *, message: CallbackMessage, received_at: datetime | None = None
) -> GoogleWalletCallback | None:
    """Record a verified callback and move its card; None when the nonce was seen before."""
    received_at = received_at or timezone.now()
    serial = serial_from_object_id(message.object_id)
    wallet_pass = (
        WalletPass.objects.filter(serial=serial, platform=WalletPass.Platform.GOOGLE).first()
        if serial
        else None
    )
    with transaction.atomic():
        try:
            # The unique nonce decides a repeat (two deliveries at once: one INSERT wins).
            with transaction.atomic():
                callback = GoogleWalletCallback.objects.create(
                    class_id=message.class_id[:200],
                    object_id=message.object_id[:200],
                    event_type=message.event_type,
                    nonce=message.nonce[:200],
                    expires_at=datetime.fromtimestamp(message.exp_time_millis / 1000, tz=UTC),
                    received_at=received_at,
                    wallet_pass=wallet_pass,
                )
        except IntegrityError:
            return None
        if wallet_pass is not None:
            if message.event_type == GoogleWalletCallback.Event.SAVE:
                wallet_pass_added(wallet_pass=wallet_pass, at=received_at)
            else:
                wallet_pass_removed(wallet_pass=wallet_pass, at=received_at)
    return callback


def google_callback_receive(*, body: bytes) -> GoogleWalletCallback | None:
    """Verify a callback's body and record it. Raises CallbackInvalid (nothing recorded)."""
    return google_callback_record(message=callback_verify(body))
