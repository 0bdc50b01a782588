"""Reads of Apple's pass web service: which of a device's passes changed since a tag.

The tag is opaque to the device: it sends back the `lastUpdated` it was given. Here it is the
latest `WalletPass.updated_at` of the device's passes in microseconds since the epoch, so two
changes within one second are never confused (HTTP dates, Last-Modified, have seconds only).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loyalty.models import WalletDeviceRegistration, WalletPass

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tag_of(moment: datetime) -> str:
    return str((moment - EPOCH) // timedelta(microseconds=1))


def tag_moment(tag: str) -> datetime | None:
    """The moment a tag stands for; None for a tag that is not one of ours (then every pass)."""
    try:
        return EPOCH + timedelta(microseconds=int(tag))
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class UpdatedSerials:
    serials: list[str]
    last_updated: str


def apple_serials_updated(*, device_library_id: str, since: str | None) -> UpdatedSerials | None:
    """The serial numbers of the device's Apple passes changed after tag `since` (all of them
    without one), and the new tag; None when there are none (the web service's 204)."""
    passes = WalletPass.objects.filter(
        platform=WalletPass.Platform.APPLE,
        pk__in=WalletDeviceRegistration.objects.filter(device_library_id=device_library_id).values(
            "wallet_pass_id"
        ),
    )
    moment = tag_moment(since) if since else None
    if moment is not None:
        passes = passes.filter(updated_at__gt=moment)
    rows = list(passes.order_by("serial").values_list("serial", "updated_at"))
    if not rows:
        return None
    return UpdatedSerials(
        serials=[serial for serial, _ in rows],
        last_updated=tag_of(max(updated for _, updated in rows)),
    )
