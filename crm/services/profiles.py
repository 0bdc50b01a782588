"""Profile fields the CRM works out from what members did, rather than what a file says."""

from collections.abc import Sequence

from django.db.models import Count, Exists, OuterRef, Subquery

from crm.models import Member, Order
from omnichannel.channels import Channel


def members_home_store_fill(*, member_ids: Sequence[int] | None = None) -> int:
    """Give active members without a home store the store where they bought most often.

    Counts the member's store orders (sales and returns alike: both are visits); a tie goes to
    the store with the lower id. Members who never bought in a store keep none. One UPDATE;
    `member_ids` limits it to those members. Returns the number of members changed.
    """
    store_orders = Order.objects.filter(
        member=OuterRef("pk"), channel=Channel.STORE, store__isnull=False
    )
    favourite = (
        store_orders.values("store").annotate(visits=Count("pk")).order_by("-visits", "store")
    )
    members = Member.objects.filter(status=Member.Status.ACTIVE, home_store__isnull=True)
    if member_ids is not None:
        members = members.filter(pk__in=member_ids)
    return members.filter(Exists(store_orders)).update(
        home_store=Subquery(favourite.values("store")[:1])
    )
