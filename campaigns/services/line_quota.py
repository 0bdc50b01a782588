"""LINE's monthly message quota: what is left this month, shown before launch and checked by it.

Two calls (GET /v2/bot/message/quota and /quota/consumption), cached for a minute so the
builder's confirm step and the launch do not call LINE on every page. None when LINE is the
sandbox (no quota to speak of) or LINE does not answer: the launch is then not held back, the
send itself would meet the monthly limit (429) and say so per delivery.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from linebot.v3.messaging import ApiClient, ApiException, Configuration, MessagingApi
from urllib3.exceptions import HTTPError

from campaigns.backends import backend_class
from campaigns.backends.line import LineBackend

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
ERROR_QUOTA = _(
    "This campaign would send about %(needed)s LINE messages, but only %(remaining)s are left "
    "in this month's LINE quota."
)


@dataclass(frozen=True)
class LineQuota:
    limit: int | None  # messages a month; None = no limit (LINE's type "none")
    used: int  # sent this month

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


def _cache_key() -> str:
    # Per API and token: a new channel (or a test's new local server) is a new quota.
    account = f"{settings.LINE_API_BASE_URL}|{settings.LINE_CHANNEL_ACCESS_TOKEN}"
    return "campaigns:line_quota:" + hashlib.sha256(account.encode()).hexdigest()[:16]


def _line_is_real() -> bool:
    return issubclass(backend_class("line"), LineBackend)


def _quota_fetch() -> LineQuota | None:
    configuration = Configuration(
        host=settings.LINE_API_BASE_URL, access_token=settings.LINE_CHANNEL_ACCESS_TOKEN
    )
    timeout = float(settings.LINE_API_TIMEOUT_SECONDS)
    try:
        with ApiClient(configuration) as client:
            api = MessagingApi(client)
            quota = api.get_message_quota(_request_timeout=timeout)
            consumption = api.get_message_quota_consumption(_request_timeout=timeout)
    except (ApiException, HTTPError, OSError, ValueError) as error:
        logger.warning("LINE quota: no answer (%s)", str(error).splitlines()[0][:200])
        return None
    limit = quota.value if quota.type == "limited" else None
    return LineQuota(limit=limit, used=int(consumption.total_usage or 0))


def line_quota_get() -> LineQuota | None:
    """This month's LINE quota, or None when LINE is the sandbox or does not answer."""
    if not _line_is_real():
        return None
    key = _cache_key()
    cached = cache.get(key)
    if cached is not None:
        return LineQuota(limit=cached[0], used=cached[1])
    quota = _quota_fetch()
    if quota is not None:
        cache.set(key, (quota.limit, quota.used), CACHE_SECONDS)
    return quota


def line_quota_check(*, needed: int) -> str | None:
    """Why `needed` more LINE messages would not fit this month's quota (None: they fit, or
    the quota is unknown)."""
    if needed <= 0:
        return None
    quota = line_quota_get()
    if quota is None or quota.remaining is None or needed <= quota.remaining:
        return None
    return str(ERROR_QUOTA % {"needed": f"{needed:,}", "remaining": f"{quota.remaining:,}"})


def line_quota_forget() -> None:
    """Drop the cached figures (after a send, or in tests)."""
    cache.delete(_cache_key())
