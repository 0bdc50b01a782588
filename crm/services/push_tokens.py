"""The app's FCM registration tokens: Identity rows of kind push_token.

A token names one install of the app on one phone, not a person: when a phone changes hands or
the app is reinstalled and someone else signs in, the same token arrives for another member,
and the newest registration wins (the token moves; the two members are not merged, as they
would be for a shared phone number). Registering a token records an address only; whether the
member may be sent marketing push is their consent, which this leaves alone.
"""

import re
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Identity, Member

PUSH_TOKEN_MIN = 100
PUSH_TOKEN_MAX = Identity._meta.get_field("value").max_length  # 255
# FCM registration tokens are ~150 characters of base64url and ':' (formats vary by platform
# and SDK version; FCM documents no grammar, so this is the shape, not a promise).
PUSH_TOKEN_RE = re.compile(rf"[A-Za-z0-9_:-]{{{PUSH_TOKEN_MIN},{PUSH_TOKEN_MAX}}}")

ERROR_PUSH_TOKEN = _(
    "Not an FCM registration token (%(min)s to %(max)s letters, digits, '_', '-' or ':')."
)
ERROR_MEMBER_INACTIVE = _("Only an active member can register a push token.")


class PushTokenError(ValueError):
    """The token cannot be registered; `field` is what was wrong ("token" or "member")."""

    def __init__(self, *, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def push_token_check(*, token: str) -> None:
    if not PUSH_TOKEN_RE.fullmatch(token):
        raise PushTokenError(
            field="token",
            reason=str(ERROR_PUSH_TOKEN % {"min": PUSH_TOKEN_MIN, "max": PUSH_TOKEN_MAX}),
        )


@transaction.atomic
def member_push_token_attach(
    *, member: Member, token: str, source: str, at: datetime | None = None
) -> bool:
    """Attach the app's FCM token to the (active) member, taking it from whoever held it.

    Answers True when the token is new to this member (first seen, or moved from another
    member), False when they already held it (its last_seen_at is refreshed). Raises
    PushTokenError for a malformed token or a member that is not active (merged: pass the
    survivor; erased).
    """
    push_token_check(token=token)
    # The lock orders this against an erasure or a merge of the member in flight.
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise PushTokenError(field="member", reason=str(ERROR_MEMBER_INACTIVE))
    now = at or timezone.now()
    kind = Identity.Kind.PUSH_TOKEN
    holder = (
        Identity.objects.select_for_update()
        .filter(kind=kind, value=token)
        .values_list("member_id", flat=True)
        .first()
    )
    if holder == member.pk:
        Identity.objects.filter(kind=kind, value=token).update(last_seen_at=now)
        return False
    # A new row, or the other member's row handed over as if first seen here; update_or_create
    # reads back a concurrent insert of the same token (one row per token).
    Identity.objects.update_or_create(
        kind=kind,
        value=token,
        defaults={"member": member, "source": source, "first_seen_at": now, "last_seen_at": now},
    )
    return True
