"""Profile fields the CRM works out from what members did, rather than what a file says."""

from collections import defaultdict
from collections.abc import Iterator, Sequence

from django.db import transaction
from django.db.models import Count

from crm.models import Member, Order
from omnichannel.channels import Channel

UPDATE_CHUNK = 2_000


@transaction.atomic
def members_home_store_fill(*, member_ids: Sequence[int] | None = None) -> int:
    """Give active members without a home store the store where they bought most often.

    Counts the member's store orders (sales and returns alike: both are visits); a tie goes to
    the store with the lower id. Members who never bought in a store keep none. Streams one
    grouped query over the orders alone (no join: right after a bulk import the planner has no
    statistics, and a join planned blind took minutes) and writes one UPDATE per store and
    chunk of members; `member_ids` limits it to those members. Returns the number of members
    changed.
    """
    visits = Order.objects.filter(channel=Channel.STORE, store__isnull=False, member__isnull=False)
    if member_ids is not None:
        visits = visits.filter(member_id__in=member_ids)
    counts = (
        visits.values_list("member_id", "store_id")
        .annotate(visits=Count("pk"))
        .order_by("member_id", "-visits", "store_id")
    )
    by_store: dict[int, list[int]] = defaultdict(list)
    changed = 0
    for member_id, store_id in _first_per_member(counts.iterator(chunk_size=10_000)):
        by_store[store_id].append(member_id)
        if len(by_store[store_id]) >= UPDATE_CHUNK:
            changed += _home_store_set(store_id=store_id, member_ids=by_store.pop(store_id))
    for store_id, ids in by_store.items():
        changed += _home_store_set(store_id=store_id, member_ids=ids)
    return changed


def _home_store_set(*, store_id: int, member_ids: list[int]) -> int:
    return Member.objects.filter(
        pk__in=member_ids, status=Member.Status.ACTIVE, home_store__isnull=True
    ).update(home_store_id=store_id)


def _first_per_member(rows: Iterator[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
    """(member, store) of the first row of each member (the rows come ordered by member)."""
    last = None
    for member_id, store_id, _visits in rows:
        if member_id != last:
            last = member_id
            yield member_id, store_id
