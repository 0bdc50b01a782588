"""The one hook other apps use to keep their rows on the right member (DESIGN.md §3).

crm imports no other app. An app that hangs rows on members registers a MemberHook in its
AppConfig.ready(); merges, their undo and erasure call every registered hook inside the same
transaction, so a member's loyalty points or deliveries move with it or are anonymised with it.
"""

from collections.abc import Callable
from dataclasses import dataclass

# on_merge(survivor_id, merged_id) -> snapshot (JSON-able) that on_unmerge gets back.
MergeHandler = Callable[[int, int], dict]
UnmergeHandler = Callable[[int, int, dict], None]
EraseHandler = Callable[[int], None]


@dataclass(frozen=True)
class MemberHook:
    name: str
    on_merge: MergeHandler
    on_unmerge: UnmergeHandler
    on_erase: EraseHandler | None = None


_hooks: dict[str, MemberHook] = {}


def register_member_hook(hook: MemberHook) -> None:
    _hooks[hook.name] = hook


def member_hooks() -> list[MemberHook]:
    return list(_hooks.values())
