"""Who may search members by what, and how often (issue 9).

A search is an oracle: a viewer who sees `0912-***-678` and may search by phone finds the
hidden digits in at most 1,000 tries, and a name-prefix search spells a masked name out one
character at a time. So a viewer without crm.unmask_personal_data searches by member number
only (a number is no personal data), and everyone's searches are rate-limited per person. The
member list, the top-bar search (it lands on the member list) and the admin's changelists all
ask this module.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from crm.selectors import member_number_exists
from omnichannel.ratelimit import rate_limit_hit

UNMASK_PERMISSION = "crm.unmask_personal_data"
DEFAULT_SEARCH_RATE_LIMIT_PER_MINUTE = 30

ERROR_SEARCH_PERSONAL = _(
    "Your role may search members by member number only. A search by phone, email, LINE ID, "
    "card, e-invoice carrier or name would reveal the personal data your role sees masked."
)
ERROR_SEARCH_RATE = _(
    "Too many searches: at most %(limit)s a minute per person. Try again in %(wait)s seconds."
)


def may_search_personal_data(user) -> bool:
    return user.has_perm(UNMASK_PERMISSION)


def search_refusal(*, user, term: str) -> str | None:
    """Why `user` may not run a search for `term`, or None when she may.

    A viewer who may not see personal data may search for a member number that exists; any
    other text would be a search by identifier or name (a number that exists is no secret).
    """
    term = term.strip()
    if not term or may_search_personal_data(user) or member_number_exists(term):
        return None
    return str(ERROR_SEARCH_PERSONAL)


def search_rate_limit_per_minute() -> int:
    return getattr(settings, "SEARCH_RATE_LIMIT_PER_MINUTE", DEFAULT_SEARCH_RATE_LIMIT_PER_MINUTE)


def search_rate_check(*, user) -> str | None:
    """Count one search of `user`; the message to show when she is over the limit."""
    limit = search_rate_limit_per_minute()
    # pk and join time: a pk is reused after a test rolls back; the pair is not.
    key = f"search:{user.pk}:{user.date_joined.timestamp():.6f}"
    wait = rate_limit_hit(key=key, limit=limit)
    return None if wait is None else str(ERROR_SEARCH_RATE % {"limit": limit, "wait": wait})
