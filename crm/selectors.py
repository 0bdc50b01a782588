"""Read queries that pages and services share, shaped for their use."""

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from crm.models import Identity, Member, MemberStats, Order, RfmGroup
from crm.normalize import InvalidIdentifier, normalize_email, normalize_phone
from omnichannel.channels import ONLINE_SALES_CHANNELS, Channel

MEMBER_PAGE_SIZE = 50


@dataclass(frozen=True)
class MemberOverview:
    active_members: int
    joined_last_30_days: int
    revenue_last_30_days: int
    orders_last_30_days: int
    online_revenue_last_30_days: int
    store_revenue_last_30_days: int
    since: datetime


def member_overview(*, now: datetime | None = None) -> MemberOverview:
    """Headline figures for the home dashboard (two aggregate queries)."""
    now = now or timezone.now()
    since = now - timedelta(days=30)
    members = Member.objects.filter(status=Member.Status.ACTIVE).aggregate(
        active=Count("pk"), joined=Count("pk", filter=Q(joined_at__gte=since))
    )
    placed = Q(status=Order.Status.PLACED)
    orders = Order.objects.filter(placed_at__gte=since, placed_at__lte=now).aggregate(
        revenue=Sum("amount_twd", filter=placed),
        count=Count("pk", filter=placed),
        online=Sum("amount_twd", filter=placed & Q(channel__in=ONLINE_SALES_CHANNELS)),
        store=Sum("amount_twd", filter=placed & Q(channel=Channel.STORE)),
    )
    return MemberOverview(
        active_members=members["active"],
        joined_last_30_days=members["joined"],
        revenue_last_30_days=orders["revenue"] or 0,
        orders_last_30_days=orders["count"],
        online_revenue_last_30_days=orders["online"] or 0,
        store_revenue_last_30_days=orders["store"] or 0,
        since=since,
    )


def _identity_values_for_query(query: str) -> list[str]:
    """The normal forms a search box text could be, so any spelling of a phone matches."""
    candidates = {query, query.upper()}
    for normalize in (normalize_phone, normalize_email):
        with suppress(InvalidIdentifier):
            candidates.add(normalize(query))
    return sorted(candidates)


def member_search(*, query: str = "") -> QuerySet[Member]:
    """Active members matching a member number, a name or any identifier, newest first.

    Count-free: callers page by pk (keyset) so the list stays fast at a million members.
    """
    members = Member.objects.filter(status=Member.Status.ACTIVE).select_related("home_store")
    query = query.strip()
    if query:
        by_identity = Identity.objects.filter(value__in=_identity_values_for_query(query)).values(
            "member_id"
        )
        members = members.filter(
            Q(member_no=query.upper()) | Q(name__startswith=query) | Q(pk__in=by_identity)
        )
    contact = Identity.objects.filter(kind__in=[Identity.Kind.PHONE, Identity.Kind.EMAIL])
    return members.prefetch_related(
        Prefetch("identities", queryset=contact.order_by("first_seen_at"), to_attr="contacts")
    ).order_by("-pk")


def member_page(*, query: str = "", before: int | None = None) -> tuple[list[Member], int | None]:
    """One page of member_search and the cursor of the next page (None on the last)."""
    members = member_search(query=query)
    if before is not None:
        members = members.filter(pk__lt=before)
    rows = list(members[: MEMBER_PAGE_SIZE + 1])
    next_before = rows[MEMBER_PAGE_SIZE - 1].pk if len(rows) > MEMBER_PAGE_SIZE else None
    return rows[:MEMBER_PAGE_SIZE], next_before


def rfm_group_counts() -> dict[str, int]:
    """Members per RFM group (every group, zeros included), from the last scoring."""
    counts = dict(
        MemberStats.objects.exclude(rfm_group="")
        .values("rfm_group")
        .annotate(n=Count("pk"))
        .values_list("rfm_group", "n")
    )
    return {group.value: counts.get(group.value, 0) for group in RfmGroup}
