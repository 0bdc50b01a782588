"""The Retry-After header of a 429 or 503, as seconds (RFC 9110 §10.2.3)."""

from email.utils import parsedate_to_datetime

from django.utils import timezone


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait, from delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return max((at - timezone.now()).total_seconds(), 0.0)
