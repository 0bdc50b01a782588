"""campaigns' rows follow crm's members (crm.hooks): merges, their undo, erasure.

A merged member's deliveries move to the survivor, except for a campaign that reached the
survivor too (one delivery per member and campaign: the merged one stays where it was, as the
record of the second message that person got). The snapshot lists what moved, so undo moves
exactly those back. Erasure ends what was still waiting for the erased members, and lifts
nothing: the member's suppressions go with the member's rows.

Conversions follow the orders, not these hooks: crm feeds a member_moved change for every
order a merge, its undo or an erasure moves, and campaigns.services.conversions gives the
Conversion rows the order's new member (none after an erasure), keeping the delivery they were
credited through — moved here with the member or, when the survivor had a delivery of that
campaign whose window does not hold the order, the merged member's that stays behind. The
credit stays with the campaign either way; a delivery's revenue moves with the delivery.
"""

from collections.abc import Sequence

from django.db.models import Case, Value, When

from campaigns.models import Delivery, Suppression, WebPushSubscription
from crm.hooks import MemberHook, register_member_hook


def deliveries_on_merge(pairs: Sequence[tuple[int, int]]) -> dict[int, dict]:
    """Set-wise: two reads and three UPDATEs for the whole batch of merges."""
    survivor_of = {merged_id: survivor_id for survivor_id, merged_id in pairs}
    if not survivor_of:
        return {}
    taken = set(
        Delivery.objects.filter(member_id__in=set(survivor_of.values())).values_list(
            "member_id", "campaign_id"
        )
    )
    moved: dict[int, list[int]] = {merged_id: [] for merged_id in survivor_of}
    rows = Delivery.objects.filter(member_id__in=list(survivor_of)).values_list(
        "pk", "member_id", "campaign_id"
    )
    for pk, member_id, campaign_id in rows:
        if (survivor_of[member_id], campaign_id) not in taken:
            moved[member_id].append(pk)
    to_survivor = Case(
        *[When(member_id=merged, then=Value(survivor)) for merged, survivor in survivor_of.items()]
    )
    moved_ids = [pk for ids in moved.values() for pk in ids]
    if moved_ids:
        Delivery.objects.filter(pk__in=moved_ids).update(member_id=to_survivor)
    Suppression.objects.filter(member_id__in=list(survivor_of), lifted_at__isnull=True).update(
        member_id=to_survivor
    )
    WebPushSubscription.objects.filter(member_id__in=list(survivor_of)).update(
        member_id=to_survivor
    )
    return {merged_id: {"deliveries": ids} for merged_id, ids in moved.items()}


def deliveries_on_unmerge(survivor_id: int, merged_id: int, snapshot: dict) -> None:
    moved = snapshot.get("deliveries") or []
    if moved:
        Delivery.objects.filter(pk__in=moved, member_id=survivor_id).update(member_id=merged_id)


def deliveries_on_erase(member_ids: Sequence[int]) -> None:
    Delivery.objects.filter(member_id__in=member_ids, status__in=[Delivery.Status.PENDING]).update(
        status=Delivery.Status.SUPPRESSED, reason=Delivery.Reason.MEMBER_ERASED
    )
    Suppression.objects.filter(member_id__in=member_ids).delete()
    WebPushSubscription.objects.filter(member_id__in=member_ids).delete()


def register_campaign_member_hook() -> None:
    register_member_hook(
        MemberHook(
            name="campaigns",
            on_merge=deliveries_on_merge,
            on_unmerge=deliveries_on_unmerge,
            on_erase=deliveries_on_erase,
        )
    )
