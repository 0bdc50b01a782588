"""The per-channel rate limit every worker shares: provider calls a second.

Redis when the project has it (one INCR per call, atomic across machines), else a row per
channel and second in the database (the embedded default), taken with a conditional UPDATE.
A worker over the limit sleeps to the next second; the provider's own 429 is handled by the
pipeline (Retry-After), this only keeps us from provoking it.
"""

import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from campaigns.models import RateWindow
from omnichannel.ratelimit import rate_limit_hit

MAX_SLEEP_SECONDS = 1.0


def _over_limit_db(channel: str, limit: int, window: int) -> bool:
    # Race: workers taking the same second. The UPDATE's condition and its row count decide;
    # the first to find no row creates it, and a loser of that INSERT counts again.
    for _attempt in range(3):
        taken = RateWindow.objects.filter(channel=channel, window=window, used__lt=limit).update(
            used=F("used") + 1
        )
        if taken:
            return False
        if RateWindow.objects.filter(channel=channel, window=window).exists():
            return True
        try:
            with transaction.atomic():
                RateWindow.objects.create(channel=channel, window=window, used=1)
            RateWindow.objects.filter(window__lt=window - 60).delete()
            return False
        except IntegrityError:
            continue
    return True


def provider_call_acquire(*, channel: str) -> float:
    """Wait until the channel may take one more provider call this second; returns the seconds
    slept (0 when under the limit)."""
    limit = settings.CAMPAIGN_RATE_LIMITS.get(channel) or 0
    if limit <= 0:
        return 0.0
    slept = 0.0
    while True:
        now = time.time()
        window = int(now)
        if settings.REDIS_URL:
            over = rate_limit_hit(key=f"send:{channel}", limit=limit, window_seconds=1) is not None
        else:
            over = _over_limit_db(channel, limit, window)
        if not over:
            return slept
        pause = min(MAX_SLEEP_SECONDS, window + 1 - now + 0.001)
        time.sleep(pause)
        slept += pause
