"""Wallet cards follow crm's members (crm.hooks), as points do (loyalty.hooks).

Merge. A card shows one member's number, name and points. The merged member's card moves to the
survivor when the survivor has none on that wallet (the phone keeps it, and its next update
shows the survivor's number and balance); otherwise it is dropped with its device
registrations (the survivor's own card wins; the merged member's phone is told nothing more).
Every survivor's cards are then marked changed: their points and tier moved. Set-wise per batch.

Undo. The cards that moved go back to the member they came from, unless that member has a card
on the wallet again by then; both members' cards are marked changed. A dropped card does not
come back (the member adds a new one from the add-to-wallet link).

Erasure. The cards carry the member's name, so they go, with their device registrations.

A dropped or erased Google card also lives at Google (the loyalty object with the name and the
number): once the merge or erasure has committed, a task blanks and deactivates those objects
(loyalty.wallet.google_updater.google_objects_retire). Apple keeps nothing of ours: the pass is
on the phone, which from then on gets 401 for it.
"""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Case, Value, When

from crm.hooks import MemberHook, register_member_hook
from loyalty.models import WalletPass
from loyalty.services.wallet import wallet_passes_touch

HOOK_NAME = "loyalty_wallet"


def wallet_on_merge(pairs: Sequence[tuple[int, int]]) -> dict[int, dict]:
    survivor_of = {merged_id: survivor_id for survivor_id, merged_id in pairs}
    rows = list(
        WalletPass.objects.filter(member_id__in=[*survivor_of, *survivor_of.values()])
        .order_by("pk")
        .values_list("pk", "member_id", "platform")
    )
    held = {
        (member_id, platform) for _, member_id, platform in rows if member_id not in survivor_of
    }
    moves: dict[int, int] = {}  # pass -> survivor
    drops: list[int] = []
    for pk, member_id, platform in rows:
        survivor_id = survivor_of.get(member_id)
        if survivor_id is None:
            continue
        if (survivor_id, platform) in held:
            drops.append(pk)
        else:
            moves[pk] = survivor_id
            held.add((survivor_id, platform))
    if drops:
        _google_retire_later(WalletPass.objects.filter(pk__in=drops))
        WalletPass.objects.filter(pk__in=drops).delete()
    if moves:
        WalletPass.objects.filter(pk__in=moves).update(
            member_id=Case(*(When(pk=pk, then=Value(s)) for pk, s in moves.items()))
        )
    wallet_passes_touch(member_ids=set(survivor_of.values()))
    merged_of = {pk: member_id for pk, member_id, _ in rows}
    snapshots: dict[int, dict] = {}
    for pk in moves:
        snapshots.setdefault(merged_of[pk], {"wallet_passes": []})["wallet_passes"].append(pk)
    return snapshots


def wallet_on_unmerge(survivor_id: int, merged_id: int, snapshot: dict) -> None:
    moved = snapshot.get("wallet_passes") or []
    if moved:
        taken = WalletPass.objects.filter(member_id=merged_id).values("platform")
        WalletPass.objects.filter(pk__in=moved, member_id=survivor_id).exclude(
            platform__in=taken
        ).update(member_id=merged_id)
    wallet_passes_touch(member_ids=[survivor_id, merged_id])


def wallet_on_erase(member_ids: Sequence[int]) -> None:
    # Their registrations go with them (on_delete CASCADE).
    _google_retire_later(WalletPass.objects.filter(member_id__in=member_ids))
    WalletPass.objects.filter(member_id__in=member_ids).delete()


def _google_retire_later(cards) -> None:
    """After the commit, blank and deactivate at Google the objects of these cards that were
    ever saved (the others never reached Google)."""
    from loyalty.tasks import google_objects_retire_task
    from loyalty.wallet.google import object_id

    serials = list(
        cards.filter(platform=WalletPass.Platform.GOOGLE, installed_at__isnull=False).values_list(
            "serial", flat=True
        )
    )
    if serials:
        object_ids = [object_id(serial) for serial in serials]
        transaction.on_commit(lambda: google_objects_retire_task.delay(object_ids))


def register_wallet_member_hook() -> None:
    register_member_hook(
        MemberHook(
            name=HOOK_NAME,
            on_merge=wallet_on_merge,
            on_unmerge=wallet_on_unmerge,
            on_erase=wallet_on_erase,
        )
    )
