"""Read queries that pages and services share, shaped for their use."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.core import signing
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from crm.identifiers import identifiers_normalize
from crm.list_filters import member_list_filter_q
from crm.models import CONSENT_NONE as CONSENT_NONE  # the member list's filter value
from crm.models import (
    Consent,
    Identity,
    Member,
    MemberStats,
    MergeLog,
    Order,
    OrderChange,
    RfmGroup,
    Segment,
    Tag,
    consent_current_q,
    net_revenue,
    sale_q,
)
from crm.segments import SegmentDefinitionError, segment_q, segment_queryset
from crm.segments.ready_made import READY_MADE
from omnichannel.channels import ONLINE_SALES_CHANNELS, Channel, MessagingChannel
from omnichannel.counting import RowCount, rows_count

MEMBER_PAGE_SIZE = 50

# The member list counts exactly up to here, then shows PostgreSQL's estimate ("約 4.9 萬"). A
# marketer reads a small audience exactly; past a thousand "about" is what they need, and the
# bounded count of a filter that matches a quarter of the members read 10,001 of them (137 ms
# at 200,000 members) where 1,001 cost 14 ms.
MEMBER_COUNT_EXACT_LIMIT = 1_000


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
    # A partial return is no order (sale_q) but lowers revenue (net_revenue), as in MemberStats.
    orders = Order.objects.filter(placed_at__gte=since, placed_at__lte=now).aggregate(
        revenue=net_revenue(),
        count=Count("pk", filter=sale_q()),
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
    history = list(member.consents.order_by(*Consent.NEWEST_FIRST)[:CONSENT_HISTORY_ROWS])
    newest: dict[str, Consent] = {}
    for consent in history:
        newest.setdefault(consent.channel, consent)
    states = []
    for channel in MessagingChannel.values:
        consent = newest.get(channel)
        if consent is None and len(history) == CONSENT_HISTORY_ROWS:
            # The channel's last decision is older than the rows shown: one more query.
            consent = (
                member.consents.filter(channel=channel).order_by(*Consent.NEWEST_FIRST).first()
            )
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
    # The member list's search (any identifier in any spelling, number, name prefix).
    members = member_list_queryset(filters=MemberListFilters(q=term)).exclude(pk=exclude.pk)
    return list(_member_rows(members.order_by("-pk"))[:MERGE_CANDIDATES])


# --- Searching (the member list, the admin, the top bar) ------------------------------------


def member_ids_for_term(term: str) -> list[int]:
    """Members a search box text names: a member number, or any identifier in any spelling.

    One query, every branch on a unique index: member_no, and (kind, value) for each kind the
    text is a valid identifier of once normalised (0912-345-678, +886 912 345 678 and
    ０９１２３４５６７８ all find +886912345678).
    """
    query = member_ids_for_term_query(term)
    return [] if query is None else [pk for (pk,) in query]


def member_ids_for_term_query(term: str) -> QuerySet | None:
    """member_ids_for_term's query, not run (one-column rows of member ids), to use as a
    subquery (`Member.objects.filter(pk__in=…)`: the lookup and the members in one query);
    None for a blank text."""
    term = term.strip()
    if not term:
        return None
    by_number = Member.objects.filter(member_no__in={term, term.upper()}).values_list("pk")
    keys = identifiers_normalize([(kind, term) for kind in Identity.Kind.values]).identifiers
    if not keys:
        return by_number
    by_identity = Identity.objects.filter(
        reduce(or_, (Q(kind=key.kind, value=key.value) for key in keys))
    ).values_list("member_id")
    return by_number.union(by_identity)


def name_prefix_q(term: str, field: str = "name") -> Q:
    """`field` starts with term, written so the btree index on it is used.

    A LIKE 'x%' cannot use a plain btree index under a non-C collation; the range
    term <= field < term + U+10FFFF can, and the LIKE beside it keeps the match exact.
    """
    return Q(
        **{
            f"{field}__gte": term,
            f"{field}__lt": term + "\U0010ffff",
            f"{field}__startswith": term,
        }
    )


def member_number_q(term: str) -> Q:
    """Members whose number is the text (as typed or in capitals): the only search that
    reveals no personal data, so the one a role without crm.unmask_personal_data may run."""
    return Q(member_no__in={term, term.upper()})


def member_number_exists(term: str) -> bool:
    return Member.objects.filter(member_number_q(term.strip())).exists()


def member_search_q(term: str) -> Q:
    """Members a search box text names: by number or identifier (member_ids_for_term, one
    query on unique indexes, run now), or by name prefix (on the name index).

    The identifier matches are a handful of ids, so the page query is "pk IN (ids) OR name
    range", which the planner can answer from the pk and name indexes for a rare name, or by
    reading the list's order and filtering for a common one. (A UNION of the three lookups as
    one subquery made a common prefix such as a surname collect and sort every match.)
    """
    ids = member_ids_for_term(term)
    by_name = name_prefix_q(term)
    return Q(pk__in=ids) | by_name if ids else by_name


# --- The member list (/members/) --------------------------------------------------------------


@dataclass(frozen=True)
class MemberListFilters:
    """What the member list is narrowed to; every field empty means all active members."""

    q: str = ""
    acquisition_channel: str = ""
    bought: tuple[str, ...] = ()  # bought in every one of these sales channels
    tag_id: int | None = None
    consent_channel: str = ""
    consent_state: str = ""  # Consent.State value or CONSENT_NONE
    home_store_id: int | None = None
    segment_definition: dict | None = None  # a saved Segment's rules (crm.segments)
    # (key, value) of the filters other apps registered (crm.list_filters), e.g. ("tier", "3").
    extra: tuple[tuple[str, str], ...] = ()
    # False for a viewer who may not see personal data: q finds member numbers only, since a
    # search by phone, email or name prefix would tell her what the masks hide.
    personal_search: bool = True


@dataclass(frozen=True)
class MemberSort:
    key: str  # the ?sort= value
    field: str  # the ORDER BY expression's path
    descending: bool
    on_stats: bool = False  # a MemberStats column: members without a figure come last
    personal: bool = False  # personal data: not for a viewer who sees it masked


MEMBER_SORTS: dict[str, MemberSort] = {
    sort.key: sort
    for sort in (
        MemberSort("-joined", "joined_at", descending=True),
        MemberSort("joined", "joined_at", descending=False),
        MemberSort("name", "name", descending=False, personal=True),
        MemberSort("-name", "name", descending=True, personal=True),
        MemberSort("-spend", "stats__total_spend_twd", descending=True, on_stats=True),
        MemberSort("spend", "stats__total_spend_twd", descending=False, on_stats=True),
        MemberSort("-last_purchase", "stats__last_purchase_at", descending=True, on_stats=True),
        MemberSort("last_purchase", "stats__last_purchase_at", descending=False, on_stats=True),
    )
}
DEFAULT_MEMBER_SORT = "-joined"


class InvalidCursor(ValueError):
    pass


_CURSOR_SIGNER = signing.Signer(salt="crm.member-list-cursor")


def _sort_value_of(pk: int, sort: MemberSort) -> object:
    """The sort value of the member a personal cursor names (one query on the pk)."""
    try:
        return Member.objects.values_list(sort.field, flat=True).get(pk=pk)
    except Member.DoesNotExist:
        raise ValueError(pk) from None


@dataclass(frozen=True)
class MemberCursor:
    """Where the next page starts: after (value, pk) in the sort's order.

    `blank` marks the tail of a MemberStats sort: members with no figure there (never bought,
    or no figures row yet), in pk order after every member that has one.
    """

    pk: int
    value: object = None
    blank: bool = False

    def encode(self, sort: MemberSort) -> str:
        """Signed, so no one can hand the list a value of her own to compare names against;
        a personal sort (name) carries the pk alone, so the URL holds no name either."""
        if self.blank:
            text = f"b.{self.pk}"
        elif sort.personal:
            text = f"p.{self.pk}"
        else:
            value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
            text = f"v.{self.pk}.{value}"
        return _CURSOR_SIGNER.sign(f"{sort.key}:{text}")

    @classmethod
    def decode(cls, signed: str, sort: MemberSort) -> "MemberCursor":
        """Raises InvalidCursor for anything encode() did not write for this sort."""
        try:
            sort_key, _, text = _CURSOR_SIGNER.unsign(signed).partition(":")
        except signing.BadSignature as exc:
            raise InvalidCursor(signed) from exc
        if sort_key != sort.key:
            raise InvalidCursor(signed)
        kind, _, rest = text.partition(".")
        pk_text, _, value_text = rest.partition(".")
        try:
            pk = int(pk_text)
            if kind == "b" and not value_text:
                return cls(pk=pk, blank=True)
            if kind == "p" and not value_text and sort.personal:
                return cls(pk=pk, value=_sort_value_of(pk, sort))
            if kind != "v":
                raise ValueError(kind)
            if sort.field.endswith("_at"):
                value: object = datetime.fromisoformat(value_text)
                if timezone.is_naive(value):
                    raise ValueError(value_text)
            elif sort.field.endswith("_twd"):
                value = int(value_text)
            else:
                value = value_text
        except ValueError as exc:
            raise InvalidCursor(text) from exc
        return cls(pk=pk, value=value)


@dataclass
class MemberListPage:
    members: list[Member]
    next_cursor: str | None
    sort: MemberSort
    count: RowCount | None = None  # how many members match, when asked for (the first page)


def member_list_queryset(*, filters: MemberListFilters) -> QuerySet[Member]:
    """Active members narrowed by the list's filters, unordered and unshaped.

    The list pages it, the export writes it and the bulk tag actions change it, so all three
    act on exactly the members the marketer filtered.
    """
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    if term := filters.q.strip():
        members = members.filter(
            member_search_q(term) if filters.personal_search else member_number_q(term)
        )
    if filters.acquisition_channel:
        members = members.filter(acquisition_channel=filters.acquisition_channel)
    for channel in filters.bought:
        members = members.filter(**{f"stats__bought_{channel}": True})
    if filters.tag_id is not None:
        tagged = Tag.members.through.objects.filter(tag_id=filters.tag_id, member_id=OuterRef("pk"))
        members = members.filter(Exists(tagged))
    if filters.consent_channel and filters.consent_state:
        members = members.filter(consent_current_q(filters.consent_channel, filters.consent_state))
    if filters.home_store_id is not None:
        members = members.filter(home_store_id=filters.home_store_id)
    if filters.segment_definition is not None:
        members = members.filter(segment_q(filters.segment_definition))
    if filters.extra:
        members = members.filter(member_list_filter_q(filters.extra))
    return members


def _after(sort: MemberSort, cursor: MemberCursor) -> Q:
    pk_after = Q(pk__lt=cursor.pk) if sort.descending else Q(pk__gt=cursor.pk)
    value_after = "lt" if sort.descending else "gt"
    return Q(**{f"{sort.field}__{value_after}": cursor.value}) | (
        Q(**{sort.field: cursor.value}) & pk_after
    )


def member_list_page(
    *,
    filters: MemberListFilters,
    sort_key: str = DEFAULT_MEMBER_SORT,
    after: str = "",
    size: int = MEMBER_PAGE_SIZE,
    with_count: bool = False,
) -> MemberListPage:
    """One page of the member list in the chosen order, and the cursor of the next one.

    Keyset paging on (sort value, pk): no COUNT and no OFFSET, so page 20,000 costs what page
    one costs. On a MemberStats sort the members with a figure come first (an inner join the
    column's index can drive), then those without one (no figures row yet, or never bought)
    by pk; a page that crosses from one part to the other takes a second query.
    `with_count` adds how many members match: exact up to 10,000, the planner's estimate past
    it on PostgreSQL (omnichannel.counting), never a COUNT over a million members.
    Raises InvalidCursor for a cursor this function did not hand out.
    """
    sort = MEMBER_SORTS.get(sort_key) or MEMBER_SORTS[DEFAULT_MEMBER_SORT]
    if sort.personal and not filters.personal_search:
        # Names in order tell a masked viewer more than the masks do: she gets the default.
        sort = MEMBER_SORTS[DEFAULT_MEMBER_SORT]
    cursor = MemberCursor.decode(after, sort) if after else None
    base = member_list_queryset(filters=filters)
    pk_order = "-pk" if sort.descending else "pk"
    value_order = f"-{sort.field}" if sort.descending else sort.field
    rows: list[Member] = []
    if cursor is None or not cursor.blank:
        head = base.filter(**{f"{sort.field}__isnull": False}) if sort.on_stats else base
        if cursor is not None:
            head = head.filter(_after(sort, cursor))
        head = head.annotate(sort_value=F(sort.field)).order_by(value_order, pk_order)
        rows = list(_member_rows(head)[: size + 1])
    if sort.on_stats and len(rows) <= size:
        tail = base.filter(Q(stats__isnull=True) | Q(**{f"{sort.field}__isnull": True}))
        if cursor is not None and cursor.blank:
            tail = tail.filter(Q(pk__lt=cursor.pk) if sort.descending else Q(pk__gt=cursor.pk))
        for member in _member_rows(tail.order_by(pk_order))[: size + 1 - len(rows)]:
            member.blank_sort_value = True
            rows.append(member)
    next_cursor = None
    if len(rows) > size:
        last = rows[size - 1]
        if getattr(last, "blank_sort_value", False):
            next_cursor = MemberCursor(pk=last.pk, blank=True).encode(sort)
        else:
            next_cursor = MemberCursor(pk=last.pk, value=last.sort_value).encode(sort)
    count = rows_count(base, exact_limit=MEMBER_COUNT_EXACT_LIMIT) if with_count else None
    return MemberListPage(members=rows[:size], next_cursor=next_cursor, sort=sort, count=count)


def _member_rows(members: QuerySet[Member]) -> QuerySet[Member]:
    """The list's columns: home store, figures (blank without a MemberStats row), contacts."""
    contact = Identity.objects.filter(kind__in=[Identity.Kind.PHONE, Identity.Kind.EMAIL])
    return (
        members.select_related("home_store")
        .annotate(
            total_spend=F("stats__total_spend_twd"),
            orders_count=F("stats__orders_count"),
            last_purchase=F("stats__last_purchase_at"),
        )
        .prefetch_related(
            Prefetch("identities", queryset=contact.order_by("first_seen_at"), to_attr="contacts")
        )
    )


def members_tag_change_count(*, members: QuerySet[Member], tag: Tag, add: bool) -> int:
    """How many members an add (those lacking the tag) or a remove (those having it) changes."""
    tagged = Tag.members.through.objects.filter(tag=tag, member_id=OuterRef("pk"))
    active = members.filter(status=Member.Status.ACTIVE)
    return active.exclude(Exists(tagged)).count() if add else active.filter(Exists(tagged)).count()


# --- Segments (the builder's preview and the segment list) ---------------------------------

SEGMENT_PREVIEW_SIZE = 10
SEGMENT_LIST_LIMIT = 300


def segment_preview_members(*, definition: dict, size: int = SEGMENT_PREVIEW_SIZE) -> list[Member]:
    """The newest members a definition matches (one query), with the figures the preview shows.
    Raises crm.segments.SegmentDefinitionError."""
    members = segment_queryset(definition).select_related("home_store")
    members = members.annotate(
        total_spend=F("stats__total_spend_twd"),
        orders_count=F("stats__orders_count"),
        last_purchase=F("stats__last_purchase_at"),
    )
    return list(members.order_by("-pk")[:size])


def segments_for_list(*, limit: int = SEGMENT_LIST_LIMIT) -> tuple[list, list, bool]:
    """(ready-made in their catalogue order, saved by name, whether more saved ones exist):
    two queries, at most `limit` saved segments."""
    order = {ready.key: index for index, ready in enumerate(READY_MADE)}
    ready_made = sorted(
        Segment.objects.exclude(ready_made="").defer("definition"),
        key=lambda segment: order.get(segment.ready_made, len(order)),
    )
    saved = list(
        Segment.objects.filter(ready_made="")
        .select_related("created_by")
        .defer("definition")
        .order_by("name", "pk")[: limit + 1]
    )
    return ready_made, saved[:limit], len(saved) > limit


def segments_page(*, limit: int, offset: int) -> tuple[list[Segment], int]:
    """A page of segments by name (the API's list), and how many there are: two queries."""
    segments = Segment.objects.defer("description").order_by("name", "pk")
    return list(segments[offset : offset + limit]), segments.count()


def segments_count_live(
    segments: list[Segment], *, now: datetime | None = None
) -> dict[int, int | None]:
    """How many active members each segment matches now, {segment id: count}, in ONE query: a
    filtered COUNT per segment over one scan of the members, not a query per segment. A
    segment whose rules no longer compile (a removed app's rule) counts None.

    The rules' lookups are single-valued (stats is 1:1; tags and orders are subqueries), so the
    filters add no row-multiplying join; a rule that did would need distinct=True here.
    """
    now = now or timezone.now()
    counts: dict[int, int | None] = {}
    aggregates = {}
    for segment in segments:
        try:
            q = segment_q(segment.definition, now=now)
        except SegmentDefinitionError:
            counts[segment.pk] = None
            continue
        aggregates[f"s{segment.pk}"] = Count("pk", filter=q) if q else Count("pk")
    if aggregates:
        totals = Member.objects.filter(status=Member.Status.ACTIVE).aggregate(**aggregates)
        counts.update({int(key[1:]): value for key, value in totals.items()})
    return counts


# --- The order-change feed (crm.services.order_feed has the contract and the race) -----------


def order_feed_snapshot() -> str:
    """PostgreSQL's current snapshot as text (`xmin:xmax:xip,…`): which transactions have
    committed as of now. Empty on SQLite, whose one writer commits ids in order."""
    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return cursor.fetchone()[0]


def order_changes_between(*, low: str, high: str, after_id: int, limit: int) -> list[OrderChange]:
    """The next `limit` order changes after `after_id` (id order) whose writers committed after
    snapshot `low` ('' for the feed's start) and by snapshot `high`: one query on the (xid, id)
    index. On SQLite, just the next ones by id."""
    changes = OrderChange.objects.filter(id__gt=after_id)
    if high:
        committed = "pg_visible_in_snapshot(xid::text::xid8, %s::pg_snapshot)"
        where, params = (
            [committed, "xid < pg_snapshot_xmax(%s::pg_snapshot)::text::bigint"],
            [
                high,
                high,
            ],
        )
        if low:
            # Below low's xmin everything was done already (committed before low, or aborted).
            where += [
                "xid >= pg_snapshot_xmin(%s::pg_snapshot)::text::bigint",
                f"NOT {committed}",
            ]
            params += [low, low]
        changes = changes.extra(where=where, params=params)  # noqa: S610 (constants, params)
    return list(changes.order_by("id")[:limit])
