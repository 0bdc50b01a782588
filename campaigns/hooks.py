"""campaigns' rows follow crm's members (crm.hooks): merges, their undo, erasure.

A merged member's deliveries move to the survivor, except for a campaign that reached the
survivor too (one delivery per member and campaign: the merged one stays where it was, as the
record of the second message that person got). The snapshot lists what moved, so undo moves
exactly those back. Erasure ends what was still waiting for the erased members, and lifts
nothing: the member's suppressions go with the member's rows.
"""

from collections.abc import Sequence

from django.db.models import Exists, OuterRef

from campaigns.models import Delivery, Suppression, WebPushSubscription
from crm.hooks import MemberHook, register_member_hook


def deliveries_on_merge(pairs: Sequence[tuple[int, int]]) -> dict[int, dict]:
    snapshots: dict[int, dict] = {}
    for survivor_id, merged_id in pairs:
        clash = Delivery.objects.filter(member_id=survivor_id, campaign_id=OuterRef("campaign_id"))
        movable = Delivery.objects.filter(member_id=merged_id).exclude(Exists(clash))
        moved = list(movable.values_list("pk", flat=True))
        if moved:
            Delivery.objects.filter(pk__in=moved).update(member_id=survivor_id)
        Suppression.objects.filter(member_id=merged_id, lifted_at__isnull=True).update(
            member_id=survivor_id
        )
        WebPushSubscription.objects.filter(member_id=merged_id).update(member_id=survivor_id)
        snapshots[merged_id] = {"deliveries": moved}
    return snapshots


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
