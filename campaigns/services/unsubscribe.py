"""One-click unsubscribe (RFC 8058): the verb behind the link in every campaign e-mail.

An unsubscribe is an opt-out Consent in crm (not a Suppression): the member's decision, with
its proof (the campaign and delivery the link came in, the client's address and user agent,
the time), so the launch and the send-time check treat it as any other opt-out, and a later
opt-in (the member's own decision again) lifts it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.services.tracking import unsubscribe_attribute
from campaigns.unsubscribe import unsubscribe_target
from crm.labels import UNSUBSCRIBE_SOURCE
from crm.models import Consent, Member
from crm.services.consent import ConsentError, consent_record, consent_states
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch

ERROR_LINK_INVALID = _(
    "This unsubscribe link is not valid: it may have been cut off when it was copied. "
    "Open it again from the message."
)
USER_AGENT_MAX = 300


class UnsubscribeInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Unsubscribed:
    channel: str
    recorded: bool  # False: the member had already opted out (a second click writes nothing)


def unsubscribe_record(
    *,
    token: str,
    ip: str | None,
    user_agent: str,
    one_click: bool,
    at: datetime | None = None,
) -> Unsubscribed:
    """Opt the member a link names out of the link's channel, with proof, and record the
    touchpoint "unsubscribed". Idempotent: a member already opted out gets nothing new.

    Raises UnsubscribeInvalid for a forged or mangled token or a delivery that no longer exists.
    """
    target = unsubscribe_target(token)
    if target is None:
        raise UnsubscribeInvalid(ERROR_LINK_INVALID)
    at = at or timezone.now()
    with transaction.atomic():
        # Two POSTs at once (a mail provider and the member, or a scanner) must not both write:
        # the member's row is the lock.
        member = _member_locked(target.member_id)
        if member is None:
            raise UnsubscribeInvalid(ERROR_LINK_INVALID)
        state = consent_states(member_ids=[member.pk]).get((member.pk, target.channel))
        if state == Consent.State.OPTED_OUT:
            return Unsubscribed(target.channel, recorded=False)
        proof = {
            "campaign_id": target.campaign_id,
            "delivery_id": target.delivery_id,
            "ip": ip or "",
            "user_agent": (user_agent or "")[:USER_AGENT_MAX],
            "at": at.isoformat(),
            "method": "one-click" if one_click else "page",
        }
        try:
            consent_record(
                member=member,
                channel=target.channel,
                opted_in=False,
                source=UNSUBSCRIBE_SOURCE,
                at=at,
                proof=proof,
            )
        except ConsentError:
            # An erased member: nothing is sent to them any more, nothing to record.
            return Unsubscribed(target.channel, recorded=False)
        touchpoints_write_batch(
            touchpoints=[
                TouchpointIn(
                    channel=target.channel,
                    kind="unsubscribed",
                    at=at,
                    properties={
                        "campaign_id": target.campaign_id,
                        "delivery_id": target.delivery_id,
                    },
                )
            ],
            member_ids=[member.pk],
        )
        # The report's "unsubscribed": put down to the member's latest message on the channel.
        unsubscribe_attribute(member_id=member.pk, channel=target.channel, at=at)
    return Unsubscribed(target.channel, recorded=True)


def _member_locked(member_id: int) -> Member | None:
    """The member, locked; a member merged since the message went out stands for their
    survivor (the decision is the person's, whichever record now holds them)."""
    for _hop in range(10):
        member = Member.objects.select_for_update().filter(pk=member_id).first()
        if member is None or member.merged_into_id is None:
            return member
        member_id = member.merged_into_id
    return None
