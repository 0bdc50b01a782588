"""The verbs of crm. Other apps import from here, never from the modules behind it."""

from crm.services.identity import (
    Identifier,
    MemberProfile,
    MergeError,
    NormalizedIdentifiers,
    Resolution,
    UndoBlocked,
    identifiers_normalize,
    member_merge,
    member_merge_by_hand,
    member_no_generate,
    member_resolve,
    member_survivor,
    member_unmerge,
    merge_blocking_undo,
)

__all__ = [
    "Identifier",
    "MemberProfile",
    "MergeError",
    "NormalizedIdentifiers",
    "Resolution",
    "UndoBlocked",
    "identifiers_normalize",
    "member_merge",
    "member_merge_by_hand",
    "member_no_generate",
    "member_resolve",
    "member_survivor",
    "member_unmerge",
    "merge_blocking_undo",
]
