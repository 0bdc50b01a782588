"""Read queries that pages and services share, shaped for their use."""

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from crm.models import Consent, Identity, Member, MemberStats, MergeLog, Order, RfmGroup, Tag
from crm.normalize import InvalidIdentifier, normalize_email, normalize_phone
from omnichannel.channels import ONLINE_SALES_CHANNELS, Channel, MessagingChannel

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


# --- The 360° profile ------------------------------------------------------------------------

CONSENT_HISTORY_ROWS = 50
PROFILE_MERGES_SHOWN = 20
MERGE_CANDIDATES = 10


@dataclass(frozen=True)
class ConsentState:
    channel: str
    state: str  # Consent.State value, or "" when the member never decided
    source: str
    at: datetime | None


@dataclass(frozen=True)
class MemberProfileData:
    member: Member
    stats: MemberStats  # unsaved zeros for a member without a figures row
    identities: list[Identity]
    consent_states: list[ConsentState]
    consent_history: list[Consent]
    tags: list[Tag]
    merges: list[MergeLog]


def member_by_number(*, member_no: str) -> Member | None:
    """The member with this number (any status), with its home store and figures."""
    return (
        Member.objects.select_related("home_store", "stats", "merged_into")
        .filter(member_no=member_no.strip().upper())
        .first()
    )


def member_stats_of(member: Member) -> MemberStats:
    """A member's figures; zeros for a member that has no row (made outside the services)."""
    try:
        return member.stats
    except MemberStats.DoesNotExist:
        return MemberStats(member=member)


def member_profile(*, member: Member) -> MemberProfileData:
    """Everything the profile's cards show, in five bounded queries (one per card)."""
    identities = list(member.identities.order_by("kind", "-last_seen_at", "pk"))
    history = list(member.consents.order_by("-at", "-pk")[:CONSENT_HISTORY_ROWS])
    newest: dict[str, Consent] = {}
    for consent in history:
        newest.setdefault(consent.channel, consent)
    states = []
    for channel in MessagingChannel.values:
        consent = newest.get(channel)
        if consent is None and len(history) == CONSENT_HISTORY_ROWS:
            # The channel's last decision is older than the rows shown: one more query.
            consent = member.consents.filter(channel=channel).order_by("-at", "-pk").first()
        states.append(
            ConsentState(
                channel=channel,
                state=consent.state if consent else "",
                source=consent.source if consent else "",
                at=consent.at if consent else None,
            )
        )
    merges = list(
        MergeLog.objects.filter(Q(survivor=member) | Q(merged=member))
        .select_related("survivor", "merged", "actor")
        .order_by("-at", "-pk")[:PROFILE_MERGES_SHOWN]
    )
    return MemberProfileData(
        member=member,
        stats=member_stats_of(member),
        identities=identities,
        consent_states=states,
        consent_history=history,
        tags=list(member.tags.order_by("name")),
        merges=merges,
    )


def member_merge_candidates(*, term: str, exclude: Member) -> list[Member]:
    """Active members a by-hand merge could join with: by member number, name or identifier."""
    if not term.strip():
        return []
    return list(member_search(query=term).exclude(pk=exclude.pk)[:MERGE_CANDIDATES])
