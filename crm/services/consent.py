"""Consent per messaging channel: rows are proof (Taiwan PDPA), the newest per channel the state."""

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.models import Consent, Member
from omnichannel.audit import audit_record
from omnichannel.channels import MessagingChannel
from omnichannel.models import AuditEvent

LOOKUP_CHUNK = 2_000
AUDIT_CONSENT_BATCH = gettext_noop("%(count)s consent decision(s) from %(source)s")
AUDIT_OPTED_IN = gettext_noop("%(member_no)s opted in on %(channel)s (source %(source)s)")
AUDIT_OPTED_OUT = gettext_noop("%(member_no)s opted out on %(channel)s (source %(source)s)")


def consent_states(*, member_ids: Sequence[int]) -> dict[tuple[int, str], str]:
    """The current state per (member, channel) for these members (one query per 2,000)."""
    states: dict[tuple[int, str], str] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = (
            Consent.objects.filter(member_id__in=ids[start : start + LOOKUP_CHUNK])
            .current()
            .values_list("member_id", "channel", "state")
        )
        states.update({(member_id, channel): state for member_id, channel, state in rows})
    return states


def consents_record_batch(
    *,
    decisions: Sequence[tuple[int, str, bool]],
    source: str,
    at: datetime,
) -> int:
    """Record (member_id, channel, opted_in) decisions that change a member's state.

    A decision equal to the current state writes nothing, so importing a file twice changes
    nothing. Returns the number of rows written.
    """
    current = consent_states(member_ids=[member_id for member_id, _, _ in decisions])
    rows: dict[tuple[int, str], Consent] = {}
    for member_id, channel, opted_in in decisions:
        state = Consent.State.OPTED_IN if opted_in else Consent.State.OPTED_OUT
        if current.get((member_id, channel)) != state:
            rows[(member_id, channel)] = Consent(
                member_id=member_id, channel=channel, state=state, source=source, at=at
            )
    Consent.objects.bulk_create(rows.values(), batch_size=LOOKUP_CHUNK)
    if rows:
        audit_record(
            action=AuditEvent.Action.CONSENT,
            object_type="crm.consent",
            summary=AUDIT_CONSENT_BATCH,
            summary_params={"count": len(rows), "source": source or "—"},
        )
    return len(rows)


ERROR_CONSENT_CHANNEL = _("Choose a messaging channel: LINE, email, SMS or push.")
ERROR_CONSENT_INACTIVE = _("Consent is recorded on an active member only.")


class ConsentError(ValueError):
    pass


def consent_record(
    *,
    member: Member,
    channel: str,
    opted_in: bool,
    source: str = "manual",
    at: datetime | None = None,
    actor=None,
    proof: Mapping | None = None,
) -> Consent:
    """Record one consent decision (a marketer's, by default) as the member's newest, with its
    `proof` (JSON: how and where it was made, e.g. an unsubscribe link's delivery and client).

    Unlike imports it always writes: a decision confirmed again is proof too. Raises
    ConsentError for a channel that is not a messaging channel or a member that is not active.
    """
    if channel not in MessagingChannel.values:
        raise ConsentError(ERROR_CONSENT_CHANNEL)
    if member.status != Member.Status.ACTIVE:
        raise ConsentError(ERROR_CONSENT_INACTIVE)
    with transaction.atomic():
        consent = Consent.objects.create(
            member=member,
            channel=channel,
            state=Consent.State.OPTED_IN if opted_in else Consent.State.OPTED_OUT,
            source=source,
            at=at or timezone.now(),
            proof=dict(proof or {}),
        )
        audit_record(
            action=AuditEvent.Action.CONSENT,
            actor=actor,
            object_type="crm.member",
            object_id=member.member_no,
            summary=AUDIT_OPTED_IN if opted_in else AUDIT_OPTED_OUT,
            summary_params={"member_no": member.member_no, "channel": channel, "source": source},
        )
    return consent
