"""The one hook other apps use to keep their rows on the right member (DESIGN.md §1b).

crm imports no other app. An app that hangs rows on members (loyalty's ledger, campaigns'
deliveries) registers a MemberHook in its AppConfig.ready(); merges, their undo and erasure
call every registered hook inside the same transaction, so a member's points or deliveries
move with it or are anonymised with it. Each handler is called ONCE PER BATCH with every
member of it, so an app moves its rows with one statement per batch (a bulk import may merge
thousands of pairs in one call), never a query per pair:

    on_merge(pairs)         pairs: [(survivor_id, merged_id), …] → {merged_id: snapshot}, the
                            JSON-able snapshot that on_unmerge of that pair gets back
    on_unmerge(survivor_id, merged_id, snapshot)   one undo is one pair
    on_erase(member_ids)    the erased member and every member merged into it
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from omnichannel.registry import Registry

MergeHandler = Callable[[Sequence[tuple[int, int]]], dict[int, dict]]
UnmergeHandler = Callable[[int, int, dict], None]
EraseHandler = Callable[[Sequence[int]], None]


@dataclass(frozen=True)
class MemberHook:
    name: str
    on_merge: MergeHandler
    on_unmerge: UnmergeHandler
    on_erase: EraseHandler | None = None


MEMBER_HOOKS: Registry[MemberHook] = Registry("member hook", key=lambda hook: hook.name)


def register_member_hook(hook: MemberHook) -> None:
    """Raises omnichannel.registry.AlreadyRegistered for a name that is taken."""
    MEMBER_HOOKS.register(hook)


def member_hooks() -> list[MemberHook]:
    return MEMBER_HOOKS.all()
