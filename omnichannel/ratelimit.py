"""A fixed-window rate limit in the shared cache, for API keys and for people's searches."""

import time

from django.core.cache import cache

WINDOW_SECONDS = 60


def rate_limit_hit(*, key: str, limit: int, window_seconds: int = WINDOW_SECONDS) -> int | None:
    """Count one hit of `key`; the seconds to wait when it is over `limit` hits a window.

    A fixed window in the shared cache: `add` starts the window's counter, `incr` counts
    (atomic on Redis; on the file cache two processes may lose a count, which only lets a hit
    or two more through). Returns None while under the limit.
    """
    now = time.time()
    window = int(now // window_seconds)
    cache_key = f"rate:{key}:{window}"
    cache.add(cache_key, 0, timeout=window_seconds * 2)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window_seconds * 2)
        count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * window_seconds - now + 0.999))
