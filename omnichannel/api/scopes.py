"""What an API key may do: its scopes (DESIGN.md §1, "the API object with keys/scopes").

A key holds a list of scopes (crm.models.ApiKey.scopes); every operation names the scopes that
open it (`auth=ApiKeyAuth(Scope.INGEST)`), and a key holding none of them gets a 403 saying
which one it lacks. Four, so a system gets no more than it needs:

- `ingest`: write members, orders, returns and events (the brand's POS, web shop, app, …).
  Every key made before scopes existed has this one, so nothing that worked stopped working.
- `campaigns`: list segments, create, launch and follow campaigns (a marketing tool).
- `read`: read only: the segments list and a campaign's status and counts (a dashboard).
- `points`: the till's loyalty calls: a member's points, quotes, holds and their commit or
  release, coupons redeemed (a POS system; loyalty/api.py).

An ingest key cannot launch a campaign, and a campaigns key cannot write an order.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    INGEST = "ingest", _("Ingest: write members, orders, returns and events")
    CAMPAIGNS = "campaigns", _("Campaigns: list segments, create and launch campaigns")
    READ = "read", _("Read: segments and campaign status, nothing written")
    POINTS = "points", _("Points: members' points, holds and coupons at the till")


# What a key gets when nothing is said (keys made before scopes, api_key_create's default).
DEFAULT_SCOPES: tuple[str, ...] = (Scope.INGEST.value,)


def scopes_normalise(scopes) -> list[str]:
    """The known scopes among `scopes`, each once, in Scope's order; raises ValueError naming
    the first unknown one."""
    wanted = {str(scope) for scope in scopes}
    for scope in scopes:
        if str(scope) not in Scope.values:
            raise ValueError(str(scope))
    return [scope for scope in Scope.values if scope in wanted]
