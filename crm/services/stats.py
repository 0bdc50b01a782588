"""Members' purchase figures (MemberStats): refreshed set-wise, never per row.

`member_stats_refresh` recomputes the figures of given members from their orders in one
INSERT … SELECT … GROUP BY … ON CONFLICT statement per few thousand members (the same SQL on
PostgreSQL and SQLite). The order services call it for the members a batch touched, merges for
their survivors, so the figures are right when the write commits. `member_stats_rebuild`
recomputes everyone (a command and the nightly job: the 365-day figures move with the date),
then `member_stats_rfm_score` ranks members who bought in the last 365 days.

RFM: each of recency (newest purchase), frequency (orders in 365 days) and monetary (spend in
365 days) is scored 1-5 by rank among the scored members, `1 + 5 * (rank - 1) / n` in integers,
so ties share a score and the lowest value scores 1. Groups by R and F, first match wins:

    Champions     R 4-5, F 4-5          Potential     R 3-5, F 1-2 (but New)
    Can't lose    R 1,   F 4-5          New           R 4-5, F 1
    At risk       R 1-2, F 3-5          Hibernating   R 2,   F 1-2
    Loyal         R 3, F 3-5; R 4-5, F 3  Lost        R 1,   F 1-2

A member with no purchase in 365 days has no scores and no group.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from crm.bulk import chunked, uses_copy
from crm.models import Member, MemberStats, RfmGroup
from crm.selectors import rfm_group_counts
from omnichannel.channels import ONLINE_SALES_CHANNELS, SALES_CHANNELS, Channel

REFRESH_CHUNK = 5_000
REBUILD_CHUNK = 50_000
RFM_WINDOW = timedelta(days=365)

_ONLINE = ", ".join(f"'{c.value}'" for c in ONLINE_SALES_CHANNELS)
# crm.models.sale_q and net_revenue in SQL: a sale is a placed order (the join) with a
# non-negative amount (a return is its own row with a negative amount); spend sums placed rows.
_SALE = "o.amount_twd >= 0"
_BOUGHT_IN = ", ".join(
    f"COUNT(o.id) FILTER (WHERE {_SALE} AND o.channel = '{c.value}') > 0" for c in SALES_CHANNELS
)
_STATS_COLUMNS = (
    "member_id",
    "total_spend_twd",
    "orders_count",
    "orders_online",
    "orders_offline",
    *(f"bought_{c.value}" for c in SALES_CHANNELS),
    "first_purchase_at",
    "last_purchase_at",
    "spend_365d_twd",
    "orders_365d",
    "refreshed_at",
)
_STATS_SELECT = f"""
SELECT m.id,
       COALESCE(SUM(o.amount_twd), 0),
       COUNT(o.id) FILTER (WHERE {_SALE}),
       COUNT(o.id) FILTER (WHERE {_SALE} AND o.channel IN ({_ONLINE})),
       COUNT(o.id) FILTER (WHERE {_SALE} AND o.channel = '{Channel.STORE.value}'),
       {_BOUGHT_IN},
       MIN(o.placed_at) FILTER (WHERE {_SALE}),
       MAX(o.placed_at) FILTER (WHERE {_SALE}),
       COALESCE(SUM(o.amount_twd) FILTER (WHERE o.placed_at >= %s), 0),
       COUNT(o.id) FILTER (WHERE {_SALE} AND o.placed_at >= %s),
       %s,
       ''
FROM crm_member m
LEFT JOIN crm_order o ON o.member_id = m.id AND o.status = 'placed'
WHERE m.status = 'active' AND {{members}}
GROUP BY m.id
"""  # noqa: S608  (only constants are formatted in)
# rfm_group starts blank; a refresh leaves the scores to the scoring job.
_UPSERT = (
    f"INSERT INTO crm_memberstats ({', '.join(_STATS_COLUMNS)}, rfm_group) {_STATS_SELECT} "
    "ON CONFLICT (member_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATS_COLUMNS[1:])
)


def _params(at: datetime) -> list:
    adapt = connection.ops.adapt_datetimefield_value
    since = adapt(at - RFM_WINDOW)
    return [since, since, adapt(at)]


@transaction.atomic
def member_stats_refresh(*, member_ids: Iterable[int], at: datetime | None = None) -> int:
    """Recompute the figures of these members from their orders. Only active members get
    figures: a caller that merged or erased members drops theirs (member_stats_forget). RFM
    scores stay until the next scoring. Returns members refreshed."""
    at = at or timezone.now()
    ids = sorted(set(member_ids))
    refreshed = 0
    with connection.cursor() as cursor:
        for chunk in chunked(ids, REFRESH_CHUNK):
            if uses_copy():
                members, params = "m.id = ANY(%s::bigint[])", [list(chunk)]  # one array parameter
            else:
                members, params = f"m.id IN ({', '.join(['%s'] * len(chunk))})", list(chunk)
            cursor.execute(_UPSERT.format(members=members), [*_params(at), *params])
            refreshed += cursor.rowcount
    return refreshed


def member_stats_rebuild(*, at: datetime | None = None) -> int:
    """Recompute every active member's figures, a range of ids per transaction, then rescore
    RFM. Safe to run twice: the second run writes the same figures."""
    at = at or timezone.now()
    last_id = Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    refreshed = 0
    for start in range(0, last_id + 1, REBUILD_CHUNK):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _UPSERT.format(members="m.id >= %s AND m.id < %s"),
                [*_params(at), start, start + REBUILD_CHUNK],
            )
            refreshed += cursor.rowcount
    MemberStats.objects.exclude(member__status=Member.Status.ACTIVE).delete()
    member_stats_rfm_score()
    return refreshed


_RFM_GROUP = f"""CASE
    WHEN s.r >= 4 AND s.f >= 4 THEN '{RfmGroup.CHAMPIONS.value}'
    WHEN s.r = 1 AND s.f >= 4 THEN '{RfmGroup.CANT_LOSE.value}'
    WHEN s.r <= 2 AND s.f >= 3 THEN '{RfmGroup.AT_RISK.value}'
    WHEN s.f >= 3 THEN '{RfmGroup.LOYAL.value}'
    WHEN s.r >= 4 AND s.f = 1 THEN '{RfmGroup.NEW.value}'
    WHEN s.r >= 3 THEN '{RfmGroup.POTENTIAL.value}'
    WHEN s.r = 2 THEN '{RfmGroup.HIBERNATING.value}'
    ELSE '{RfmGroup.LOST.value}' END"""
_RFM_SCORE = f"""
WITH ranked AS (
    SELECT member_id,
           1 + 5 * (RANK() OVER (ORDER BY last_purchase_at) - 1) / COUNT(*) OVER () AS r,
           1 + 5 * (RANK() OVER (ORDER BY orders_365d) - 1) / COUNT(*) OVER () AS f,
           1 + 5 * (RANK() OVER (ORDER BY spend_365d_twd) - 1) / COUNT(*) OVER () AS m
    FROM crm_memberstats WHERE orders_365d > 0
)
UPDATE crm_memberstats
SET rfm_recency = s.r, rfm_frequency = s.f, rfm_monetary = s.m, rfm_group = {_RFM_GROUP}
FROM ranked AS s
WHERE crm_memberstats.member_id = s.member_id
"""  # noqa: S608  (only constants are formatted in)


@transaction.atomic
def member_stats_rfm_score() -> dict[str, int]:
    """Score and group every member who bought in the last 365 days (as of the figures'
    last refresh); everyone else loses their scores. Returns members per group."""
    MemberStats.objects.filter(orders_365d=0).exclude(rfm_group="").update(
        rfm_recency=None, rfm_frequency=None, rfm_monetary=None, rfm_group=""
    )
    with connection.cursor() as cursor:
        cursor.execute(_RFM_SCORE)
    return rfm_group_counts()


def member_stats_forget(*, member_ids: Sequence[int]) -> None:
    """Drop the figures of members that merged away or were erased."""
    for chunk in chunked(list(member_ids), REFRESH_CHUNK):
        MemberStats.objects.filter(member_id__in=chunk).delete()
