"""Automated messages: content a marketer edits once, sent by a job each period through the
ordinary pipeline (DESIGN.md §1b; campaigns/models.py, Campaign.trigger).

- The *template* is a draft campaign with a `trigger` ("loyalty.birthday"), unique: the
  marketer edits it in the ordinary builder (channels and their order, variants, segment
  narrowing, marketing or service); `campaign_launch` refuses it.
- Each run of the trigger's job calls `automated_message_send` with its period: the *run*
  campaign for (template, period), unique, copied from the template when it is made, with
  `audience_source=trigger` and the job's parameters, is launched through `campaign_launch`.
  Loyalty's jobs use the run DAY as this period, so each day's run campaign is a fresh copy:
  an edit to the template reaches the next day's run (a launched run is never edited). How
  often a member gets the job's message is the job's own rule (loyalty's unique row per
  job, member and period); the outbox's unique (campaign, member) keeps a rerun of the same
  day from sending twice. Consent, quiet hours, the frequency cap and the best channel are the
  pipeline's.
- A later call for a period whose run has ended takes in the members the job has chosen
  since (`_run_extend`); a run that is paused, cancelled or failed takes nobody: the caller
  sees its status and says so (loyalty's job run records a warning).

THE RACE IT CLOSES: two beat processes run the same job for the same period at once. Both try
to create the run; the unique (template, period) lets one INSERT through and the other takes
the existing row (IntegrityError inside a savepoint). Both may then call `campaign_launch`; its
conditional status UPDATE lets one through, the other's CampaignStateError is the expected
"already launched".
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Campaign, Message
from campaigns.services.audience import _audience_plan
from campaigns.services.campaigns import CampaignStateError, campaign_launch
from campaigns.services.tracking import tracked_links_sync

logger = logging.getLogger(__name__)

# The template's settings each run copies (its content: the Message rows; its held-out stores).
COPIED_FIELDS = (
    "segment_id",
    "channels",
    "is_marketing",
    "quiet_hours",
    "frequency_cap_messages",
    "frequency_cap_days",
    "variant_split",
    "winner_metric",
    "winner_test_percent",
    "winner_after_hours",
    "holdout_percent",
    "conversion_window_delivery_days",
    "conversion_window_click_days",
    "utm_campaign",
)


def automated_message_ensure(
    *,
    trigger: str,
    name: str,
    channels: Sequence[str],
    contents: dict[str, dict],
    is_marketing: bool = True,
) -> Campaign:
    """The trigger's template, made on first use with `contents` (variant A's content per
    channel) and `channels` in fallback order; afterwards whatever the marketer made of it
    (nothing here overwrites an edit). Safe when two processes make it at once."""
    existing = Campaign.objects.filter(trigger=trigger).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            template = Campaign.objects.create(
                name=name, trigger=trigger, channels=list(channels), is_marketing=is_marketing
            )
            Message.objects.bulk_create(
                [
                    Message(campaign=template, channel=channel, content=contents[channel])
                    for channel in channels
                    if channel in contents
                ]
            )
            tracked_links_sync(campaign_id=template.pk)
            return template
    except IntegrityError:
        # Race: another process made it first; theirs is the template.
        return Campaign.objects.get(trigger=trigger)


def automated_template(*, trigger: str) -> Campaign | None:
    return Campaign.objects.filter(trigger=trigger).first()


def _run_get_or_create(*, template: Campaign, period: str, params: dict, now: datetime):
    run = Campaign.objects.filter(template=template, period=period).first()
    if run is not None:
        return run
    try:
        with transaction.atomic():
            run = Campaign(
                name=f"{template.name} · {period}",
                template=template,
                period=period,
                audience_source=template.trigger,
                audience_params=params,
                created_at=now,
                **{field: getattr(template, field) for field in COPIED_FIELDS},
            )
            run.save()
            run.holdout_stores.set(template.holdout_stores.values_list("pk", flat=True))
            Message.objects.bulk_create(
                [
                    Message(
                        campaign=run,
                        channel=message.channel,
                        variant=message.variant,
                        content=message.content,
                    )
                    for message in Message.objects.filter(campaign=template)
                ]
            )
            return run
    except IntegrityError:
        # Race: the other process's run for this period is the run (module docstring).
        return Campaign.objects.get(template=template, period=period)


def automated_message_send(
    *, trigger: str, period: str, params: dict, now: datetime | None = None
) -> Campaign | None:
    """Send the trigger's message for `period` to the members its audience source gives for
    `params`: the period's run campaign, made from the template on first call and launched.
    A later call for the same period (a rerun, a second beat process) launches nothing twice;
    when the run has ended and the job has since chosen more members for the period, the run
    takes them in (its snapshot adds only members not yet in its outbox). A run paused,
    cancelled or failed is returned as it is: the caller reads its status (it took nobody).

    Returns the run, or None when the trigger has no template. Raises CampaignInvalid when
    the template cannot be sent as it is (no channel, content a provider would refuse).
    """
    now = now or timezone.now()
    template = automated_template(trigger=trigger)
    if template is None:
        return None
    run = _run_get_or_create(template=template, period=period, params=params, now=now)
    if run.status == Campaign.Status.DRAFT:
        try:
            return campaign_launch(campaign=run, now=now)
        except CampaignStateError:
            # Race: the other process launched it (module docstring).
            run.refresh_from_db()
            return run
    if run.status == Campaign.Status.DONE:
        _run_extend(run=run, now=now)
        run.refresh_from_db()
    return run


def _run_extend(*, run: Campaign, now: datetime) -> bool:
    """An ended run whose job has chosen more members since: launch it again (the snapshot
    adds only members not yet in the outbox). True when it did. "More members" is the
    snapshot's own queryset (the segment's narrowing, active members, not yet in the outbox),
    so a member the snapshot would never take relaunches nothing."""
    from campaigns.tasks import campaign_snapshot_task

    if not _audience_plan(run, now).exists():
        return False
    with transaction.atomic():
        # Race: two processes extend at once; the conditional UPDATE lets one through.
        moved = Campaign.objects.filter(pk=run.pk, status=Campaign.Status.DONE).update(
            status=Campaign.Status.LAUNCHING, finished_at=None
        )
        if moved:
            transaction.on_commit(lambda: campaign_snapshot_task.delay(run.pk))
    logger.info("automated run %s extended: %s", run.pk, bool(moved))
    return bool(moved)
