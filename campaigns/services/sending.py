"""The send pipeline: a worker takes one SendBatch and brings every delivery in it to its end.

The order of writes is what makes a message go at most once, and exactly once where the
provider lets us:

1. Claim the batch (omnichannel.jobs: a conditional UPDATE and a lease). A batch whose worker
   died is claimed again once its lease has expired (the sweep sends its task again).
2. Deliveries left SENDING by a dead worker were in a provider call when it died. For a provider
   that drops a repeated call carrying the same key (LINE's X-Line-Retry-Key, Mitake's clientid:
   `backend.idempotent`), they are sent again, first, exactly as before: the provider answers
   "already accepted" and they count as sent. For the others (SMTP, Twilio, FCM, Web Push) the
   one message in flight (max_batch_size 1) ends "failed: outcome unknown", never sent twice.
3. Consent, unsubscribe, blocks and bounces (campaigns/reachability.py) and the frequency cap
   are checked again for the waiting deliveries, now, not at launch: they end suppressed.
4. Addresses and personalisation are read once for the batch; then chunk by chunk (the
   backend's max_batch_size): mark the chunk SENDING and commit, wait for the channel's shared
   rate limit, call the provider, write each result and commit. A retryable failure
   (timeouts, 5xx, 429) puts the rest of the batch back in the queue after a backoff (429:
   after the provider's Retry-After); after CAMPAIGN_MAX_PROVIDER_ATTEMPTS the rest fails with
   the provider's last answer. A refusal because the member opted out at the provider (reason
   "unsubscribed": an SMS STOP reply) ends the delivery suppressed and records an opt-out
   Consent on the channel; an e-mail address refused outright is suppressed as a bounce.
5. Quiet hours, pause and cancel are looked at before the first chunk and then about once a
   second (CHECK_INTERVAL_SECONDS), with the lease's heartbeat: the batch goes back to the
   queue until the quiet window ends or the campaign resumes; a cancelled campaign's waiting
   deliveries end suppressed. A dead worker's call (step 2) is repeated before these looks.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.backends import backend_for
from campaigns.backends.base import (
    ChannelBackend,
    OutboundMessage,
    SendResult,
    line_aggregation_unit,
)
from campaigns.content import content_fields, content_render
from campaigns.models import VARIANT_DEFAULT, Campaign, Delivery, SendBatch, Suppression
from campaigns.personalise import personalisation_values, substitute_with
from campaigns.quiet_hours import quiet_hours_next_allowed
from campaigns.reachability import addresses_for, reachable_q
from campaigns.selectors import message_contents
from campaigns.services.audience import deliveries_suppress_unreachable
from campaigns.services.figures import campaign_figures_recount_later
from campaigns.services.suppressions import suppression_record
from campaigns.services.tracking import links_for_sending
from campaigns.throttle import provider_call_acquire
from campaigns.tracking import content_track
from campaigns.unsubscribe import unsubscribe_url
from crm.models import Member
from crm.services.consent import consents_record_batch
from omnichannel.jobs import LeasedStep, LeaseLost, job_claim, job_heartbeat, job_release

logger = logging.getLogger(__name__)

# Channels where "address refused by the provider" at send time is a hard bounce to suppress.
BOUNCE_ON_ADDRESS_INVALID = frozenset({"email"})

ERROR_WORKER_STOPPED = _("The worker stopped and the batch was not taken over in time.")

# How often a running batch looks at its campaign's status (pause, cancel), quiet hours and
# renews its lease. Tests set it to 0 to act between any two calls.
CHECK_INTERVAL_SECONDS = 1.0

SEND_STEP = LeasedStep(
    name="campaigns.send_batch",
    model="campaigns.SendBatch",
    running_status=SendBatch.Status.RUNNING,
    failed_status=SendBatch.Status.FAILED,
    reason=ERROR_WORKER_STOPPED,
    redo_status=SendBatch.Status.QUEUED,
    task="campaigns.tasks.send_batch_task",
    # Each claim is an attempt; a batch killed this often is a poison batch, not bad luck.
    max_attempts=10,
    lease_setting="SEND_BATCH_LEASE_SECONDS",
)


@dataclass(frozen=True)
class BatchOutcome:
    state: str  # done, requeued, skipped
    detail: str = ""


def send_batch_run(*, batch_id: int, now: datetime | None = None) -> BatchOutcome:
    """Send one batch (the Celery task's whole body). Safe to run twice or concurrently: the
    claim decides who sends; the other returns "skipped"."""
    now_given = now
    batch = SendBatch.objects.select_related("campaign").filter(pk=batch_id).first()
    if batch is None or batch.status in (SendBatch.Status.DONE, SendBatch.Status.FAILED):
        return BatchOutcome("skipped", "finished")
    campaign = batch.campaign
    now = now or timezone.now()
    if campaign.status != Campaign.Status.SENDING:
        return BatchOutcome("skipped", f"campaign {campaign.status}")
    if batch.status == SendBatch.Status.QUEUED and batch.not_before > now:
        return BatchOutcome("skipped", "not due")
    token = job_claim(step=SEND_STEP, job_id=batch.pk, from_statuses=(SendBatch.Status.QUEUED,))
    if not token:
        return BatchOutcome("skipped", "taken")
    batch.refresh_from_db()
    try:
        with backend_for(batch.channel) as backend:
            sender = _BatchSender(
                batch=batch, campaign=campaign, backend=backend, token=token, now=now_given
            )
            return sender.run()
    except LeaseLost:
        logger.warning("send batch %s: lease lost; another worker has it", batch.pk)
        return BatchOutcome("skipped", "lease lost")


class _BatchSender:
    def __init__(
        self,
        *,
        batch: SendBatch,
        campaign: Campaign,
        backend: ChannelBackend,
        token: str,
        now: datetime | None = None,
    ):
        # A fixed `now` (tests) stands for the whole run; otherwise the clock, read per chunk.
        self.clock = (lambda: now) if now is not None else timezone.now
        self.batch = batch
        self.campaign = campaign
        self.backend = backend
        self.token = token
        self.rows = Delivery.objects.filter(batch=batch)
        self.contents = {
            variant: content
            for (_, variant), content in message_contents(
                campaign_id=campaign.pk, channel=batch.channel
            ).items()
        }
        # {variant: {url: number}}: the links rewritten to tracked ones (campaigns/tracking.py)
        self.links = links_for_sending(campaign_id=campaign.pk, channel=batch.channel)

    # -- the steps -------------------------------------------------------------------------

    def run(self) -> BatchOutcome:
        in_flight = list(
            self.rows.filter(status=Delivery.Status.SENDING)
            .order_by("pk")
            .values_list("pk", "member_id", "variant")
        )
        if in_flight and not self.backend.idempotent:
            self.rows.filter(pk__in=[row[0] for row in in_flight]).update(
                status=Delivery.Status.FAILED, reason=Delivery.Reason.OUTCOME_UNKNOWN
            )
            in_flight = []
        size = max(1, self.backend.max_batch_size)
        # A dead worker's call is repeated first, whatever the hour or the campaign's status:
        # the provider may have accepted it already, and it remembers the key only so long
        # (Mitake: 12 hours, shorter than a night's quiet hours).
        resend = self._messages(in_flight)
        for i in range(0, len(resend), size):
            retry = self._send_chunk(resend[i : i + size], resend=True)
            if retry is not None:
                return self._requeue(*retry)
        stop = self._stop_reason()
        if stop is not None:
            return stop
        self._recheck()
        waiting = list(
            self.rows.filter(status=Delivery.Status.PENDING)
            .order_by("pk")
            .values_list("pk", "member_id", "variant")
        )
        # Addresses and personalisation are read once for the whole batch (at most
        # CAMPAIGN_BATCH_SIZE rows), not per provider call: a provider that takes one message
        # per call (SMTP, Twilio, FCM) would otherwise cost a handful of queries per message.
        fresh = self._messages(waiting)
        chunks = [fresh[i : i + size] for i in range(0, len(fresh), size)]
        checked_at = time.monotonic()
        for chunk in chunks:
            if time.monotonic() - checked_at >= CHECK_INTERVAL_SECONDS:
                # Pause, cancel, quiet hours and the lease, about once a second rather than
                # per call: a pause takes effect within a second, at a query a second.
                stop = self._stop_reason()
                if stop is not None:
                    return stop
                job_heartbeat(step=SEND_STEP, job_id=self.batch.pk, token=self.token)
                checked_at = time.monotonic()
            retry = self._send_chunk(chunk, resend=False)
            if retry is not None:
                return self._requeue(*retry)
        return self._finish()

    def _stop_reason(self) -> BatchOutcome | None:
        """Back to the queue when the campaign is paused or in quiet hours; the rest
        suppressed when it was cancelled."""
        status = Campaign.objects.filter(pk=self.campaign.pk).values_list("status", flat=True)[0]
        if status == Campaign.Status.CANCELLED:
            self.rows.filter(status=Delivery.Status.PENDING).update(
                status=Delivery.Status.SUPPRESSED, reason=Delivery.Reason.CANCELLED
            )
            return self._finish()
        if status != Campaign.Status.SENDING:
            self._release(SendBatch.Status.QUEUED, dispatched_at=None)
            return BatchOutcome("requeued", f"campaign {status}")
        now = self.clock()
        allowed = quiet_hours_next_allowed(
            channel=self.batch.channel, at=now, overrides=self.campaign.quiet_hours
        )
        if allowed > now:
            self._release(SendBatch.Status.QUEUED, not_before=allowed, dispatched_at=None)
            return BatchOutcome("requeued", f"quiet hours until {allowed.isoformat()}")
        return None

    def _recheck(self) -> None:
        """Consent, unsubscribe, blocks, bounces and the frequency cap, as they are now."""
        channel = self.batch.channel
        pending = self.rows.filter(status=Delivery.Status.PENDING)
        unreachable = pending.exclude(reachable_q(channel, member="member_id"))
        deliveries_suppress_unreachable(deliveries=unreachable, channels=[channel])
        cap = frequency_cap_of(self.campaign)
        if self.campaign.is_marketing and cap is not None:
            over = members_at_cap(
                member_ids=pending.values_list("member_id", flat=True),
                messages=cap[0],
                days=cap[1],
                exclude_campaign_id=self.campaign.pk,
                now=self.clock(),
            )
            if over:
                pending.filter(member_id__in=over).update(
                    status=Delivery.Status.SUPPRESSED, reason=Delivery.Reason.FREQUENCY_CAP
                )

    def _messages(self, rows: Sequence[tuple[int, int, str]]) -> list[OutboundMessage]:
        """The addressed, personalised message of each row; rows without an address left
        end suppressed (no channel)."""
        if not rows:
            return []
        channel = self.batch.channel
        member_ids = [member_id for _, member_id, _ in rows]
        addresses = addresses_for(channel=channel, member_ids=member_ids)
        fields: set[str] = set()
        for content in self.contents.values():
            fields |= content_fields(channel=channel, content=content)
        values = personalisation_values(member_ids=member_ids, names=fields) if fields else {}
        numbers = dict(Member.objects.filter(pk__in=member_ids).values_list("pk", "member_no"))
        messages = []
        no_address = []
        for delivery_id, member_id, variant in rows:
            address = addresses.get(member_id)
            if address is None:
                no_address.append(delivery_id)
                continue
            # LINE counts opens and clicks per the delivery's own variant (its figures' arm).
            unit = (
                line_aggregation_unit(campaign_id=self.campaign.pk, variant=variant)
                if channel == "line"
                else ""
            )
            # A variant without its own content on this channel says (and links) what A does.
            if variant not in self.contents:
                variant = (
                    VARIANT_DEFAULT
                    if VARIANT_DEFAULT in self.contents
                    else next(iter(self.contents))
                )
            rendered = content_render(
                channel=channel,
                content=self.contents[variant],
                substitute=substitute_with(values.get(member_id, {})),
            )
            messages.append(
                OutboundMessage(
                    key=f"d{delivery_id}",
                    channel=channel,
                    address=address.value,
                    content=content_track(
                        channel=channel,
                        content=rendered,
                        delivery_id=delivery_id,
                        links=self.links.get(variant, {}),
                    ),
                    delivery_id=delivery_id,
                    member_no=numbers.get(member_id, ""),
                    unsubscribe_url=unsubscribe_url(delivery_id=delivery_id)
                    if channel == "email"
                    else "",
                    extra=address.extra,
                    aggregation_unit=unit,
                )
            )
        if no_address:
            self.rows.filter(pk__in=no_address).update(
                status=Delivery.Status.SUPPRESSED, reason=Delivery.Reason.NO_CHANNEL
            )
        return messages

    def _send_chunk(
        self, messages: Sequence[OutboundMessage], *, resend: bool
    ) -> tuple[float, str] | None:
        """Send one chunk; (seconds to wait, error) when the rest must wait for a retry."""
        ids = [message.delivery_id for message in messages]
        if not resend:
            # The outbox mark that tells a successor this call may have happened. Rows that
            # stopped being pending since the batch was read (an operator's change) are not
            # sent.
            marked = self.rows.filter(pk__in=ids, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.SENDING
            )
            if marked != len(ids):
                still = set(
                    self.rows.filter(pk__in=ids, status=Delivery.Status.SENDING).values_list(
                        "pk", flat=True
                    )
                )
                messages = [m for m in messages if m.delivery_id in still]
                if not messages:
                    return None
        provider_call_acquire(channel=self.batch.channel)
        results = self.backend.send_batch(messages, retry_key=str(self.batch.retry_key))
        if len(results) != len(messages):
            raise RuntimeError(
                f"{type(self.backend).__name__} answered {len(results)} results "
                f"for {len(messages)} messages"
            )
        return self._write_results(messages, results)

    def _write_results(
        self, messages: Sequence[OutboundMessage], results: Sequence[SendResult]
    ) -> tuple[float, str] | None:
        now = self.clock()
        by_outcome: dict[tuple, list[int]] = defaultdict(list)
        retry_ids: list[int] = []
        opted_out: list[int] = []
        gone: list[str] = []
        retry_wait = 0.0
        retry_error = ""
        for message, result in zip(messages, results, strict=True):
            if result.address_gone:
                gone.append(message.address)
            if not result.ok and result.retryable:
                retry_ids.append(message.delivery_id)
                retry_wait = max(retry_wait, result.retry_after or 0.0)
                retry_error = result.error
                continue
            if not result.ok and result.reason == Delivery.Reason.UNSUBSCRIBED:
                # The member opted out at the provider (replied STOP to an SMS): suppressed,
                # and an opt-out Consent on the channel so no later campaign tries again.
                opted_out.append(message.delivery_id)
                by_outcome[(Delivery.Status.SUPPRESSED, "", result.reason, result.error)].append(
                    message.delivery_id
                )
                continue
            by_outcome[(result.status, result.provider_id, result.reason, result.error)].append(
                message.delivery_id
            )
        with transaction.atomic():
            for (status, provider_id, reason, error), ids in by_outcome.items():
                fields = {"status": status, "provider_id": provider_id[:200]}
                if status == Delivery.Status.SENT:
                    fields["sent_at"] = now
                else:
                    fields.update(reason=reason, error=error[:500])
                self.rows.filter(pk__in=ids).update(**fields)
            if retry_ids:
                self.rows.filter(pk__in=retry_ids).update(
                    status=Delivery.Status.PENDING, error=retry_error[:500]
                )
            if gone:
                _addresses_forget(channel=self.batch.channel, addresses=gone)
            if opted_out:
                _opt_out_at_provider(
                    channel=self.batch.channel,
                    delivery_ids=opted_out,
                    source=f"provider:{self.backend.name}",
                    at=now,
                )
            self._record_bounces(by_outcome)
        if retry_ids:
            return retry_wait, retry_error
        return None

    def _record_bounces(self, by_outcome: dict[tuple, list[int]]) -> None:
        """A hard bounce answered during the send (SMTP 550) suppresses the address as an ESP's
        bounce webhook would, so the member's next campaign does not try it again."""
        if self.batch.channel not in BOUNCE_ON_ADDRESS_INVALID:
            return
        for (status, _provider_id, reason, error), ids in by_outcome.items():
            if status == Delivery.Status.FAILED and reason == Delivery.Reason.ADDRESS_INVALID:
                suppression_record(
                    member_ids=self.rows.filter(pk__in=ids).values_list("member_id", flat=True),
                    channel=self.batch.channel,
                    reason=Suppression.Reason.BOUNCED,
                    source=f"send:{self.backend.name}",
                    detail=error,
                    at=self.clock(),
                )

    def _requeue(self, wait: float, error: str) -> BatchOutcome:
        attempts = self.batch.provider_attempts + 1
        if attempts >= settings.CAMPAIGN_MAX_PROVIDER_ATTEMPTS:
            self.rows.filter(status=Delivery.Status.PENDING).update(
                status=Delivery.Status.FAILED,
                reason=Delivery.Reason.PROVIDER_ERROR,
                error=error[:500],
            )
            return self._finish(provider_attempts=attempts, error=error)
        backoff = settings.CAMPAIGN_RETRY_BACKOFF_SECONDS * 2 ** (attempts - 1)
        wait = wait or backoff  # the provider's Retry-After when it gave one
        not_before = self.clock() + timedelta(seconds=wait)
        self._release(
            SendBatch.Status.QUEUED,
            not_before=not_before,
            provider_attempts=attempts,
            error=error,
            dispatched_at=self.clock(),
        )
        from campaigns.tasks import send_batch_task

        send_batch_task.apply_async((self.batch.pk,), countdown=wait)
        return BatchOutcome("requeued", f"retry in {wait:.0f} s: {error}")

    def _finish(self, **fields) -> BatchOutcome:
        counts = dict(self.rows.values_list("status").annotate(n=Count("pk")))
        self._release(
            SendBatch.Status.DONE,
            finished_at=timezone.now(),
            sent=counts.get(Delivery.Status.SENT, 0),
            failed=counts.get(Delivery.Status.FAILED, 0),
            suppressed=counts.get(Delivery.Status.SUPPRESSED, 0),
            **fields,
        )
        campaign_finish_if_done(campaign_id=self.campaign.pk)
        if self.backend.simulates_events:
            from campaigns.tasks import sandbox_events_task

            sandbox_events_task.delay(self.batch.pk)
        return BatchOutcome("done")

    def _release(self, status: str, **fields) -> None:
        if not job_release(
            step=SEND_STEP, job_id=self.batch.pk, token=self.token, status=status, **fields
        ):
            raise LeaseLost(f"send batch {self.batch.pk}")


def frequency_cap_of(campaign: Campaign) -> tuple[int, int] | None:
    """(messages, days) for this campaign, or None when uncapped (0 messages or 0 days)."""
    messages = campaign.frequency_cap_messages
    days = campaign.frequency_cap_days
    if messages is None or days is None:
        messages = settings.CAMPAIGN_FREQUENCY_CAP_MESSAGES
        days = settings.CAMPAIGN_FREQUENCY_CAP_DAYS
    return (messages, days) if messages and days else None


def members_at_cap(
    *,
    member_ids,
    messages: int,
    days: int,
    exclude_campaign_id: int | None = None,
    now: datetime | None = None,
) -> set[int]:
    """Members who were sent `messages` marketing messages or more in the last `days` days,
    all channels together (the global frequency cap). One query on (member, sent_at)."""
    since = (now or timezone.now()) - timedelta(days=days)
    sent = Delivery.objects.filter(
        member_id__in=member_ids,
        status=Delivery.Status.SENT,
        is_marketing=True,
        sent_at__gte=since,
    )
    if exclude_campaign_id is not None:
        sent = sent.exclude(campaign_id=exclude_campaign_id)
    return set(
        sent.values("member_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=messages)
        .values_list("member_id", flat=True)
    )


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """Mark a sending campaign sent once none of its batches waits or runs and, in winner mode,
    once the winner was chosen (its waiting members have no batch until then)."""
    open_batches = SendBatch.objects.filter(
        campaign_id=campaign_id,
        status__in=[SendBatch.Status.QUEUED, SendBatch.Status.RUNNING],
    )
    if open_batches.exists():
        return False
    waiting_for_winner = Q(winner_chosen_at__isnull=True) & ~Q(winner_metric="")
    finished = bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING)
        .exclude(waiting_for_winner)
        .update(status=Campaign.Status.DONE, finished_at=timezone.now())
    )
    if finished:
        campaign_figures_recount_later(campaign_id=campaign_id)
    return finished


def _addresses_forget(*, channel: str, addresses: Sequence[str]) -> None:
    """Addresses the provider says are gone for good (an uninstalled app's token)."""
    if channel == "push":
        from campaigns.services.push_addresses import push_addresses_forget

        push_addresses_forget(addresses=addresses)


def _opt_out_at_provider(
    *, channel: str, delivery_ids: Sequence[int], source: str, at: datetime
) -> None:
    """Members the provider says opted out (an SMS STOP reply): an opt-out Consent each, the
    provider's refusal of this delivery being the proof."""
    member_ids = Delivery.objects.filter(pk__in=delivery_ids).values_list("member_id", flat=True)
    consents_record_batch(
        decisions=[(member_id, channel, False) for member_id in member_ids],
        source=source[:50],
        at=at,
    )
