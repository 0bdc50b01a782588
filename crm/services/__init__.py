"""The verbs of crm. Other apps import from here, never from the modules behind it."""

from crm.services.erasure import ErasureError, member_forget
from crm.services.identity import (
    Identifier,
    MemberProfile,
    MergeError,
    NormalizedIdentifiers,
    Resolution,
    UndoBlocked,
    identifiers_normalize,
    member_numbers_allocate,
    member_survivor,
)
from crm.services.merges import (
    MergePair,
    member_merge,
    member_merge_by_hand,
    member_unmerge,
    members_merge,
    merge_blocking_undo,
)
from crm.services.push_tokens import PushTokenError, member_push_token_attach
from crm.services.resolution import member_resolve
from crm.services.resolution_batch import BatchRecord, BatchResolution, members_resolve_batch

__all__ = [
    "BatchRecord",
    "BatchResolution",
    "ErasureError",
    "Identifier",
    "MemberProfile",
    "MergeError",
    "MergePair",
    "NormalizedIdentifiers",
    "PushTokenError",
    "Resolution",
    "UndoBlocked",
    "identifiers_normalize",
    "member_forget",
    "member_merge",
    "member_merge_by_hand",
    "member_numbers_allocate",
    "member_push_token_attach",
    "member_resolve",
    "member_survivor",
    "member_unmerge",
    "members_merge",
    "members_resolve_batch",
    "merge_blocking_undo",
]
