"""Campaign verbs: save, launch (now or scheduled), pause, resume, cancel, test send."""

import logging
import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from campaigns.backends import backend_for
from campaigns.backends.base import OutboundMessage, SendResult
from campaigns.content import content_render, content_validate
from campaigns.models import (
    VARIANT_DEFAULT,
    VARIANTS,
    Campaign,
    Delivery,
    Message,
    SendBatch,
    WinnerMetric,
)
from campaigns.personalise import PERSONALISATION_FIELDS, substitute_with
from campaigns.quiet_hours import QuietHoursError, windows_parse
from campaigns.selectors import audience_estimate, message_contents
from campaigns.services.figures import campaign_figures_recount_later
from campaigns.services.line_quota import line_quota_check, line_quota_get
from campaigns.services.tracking import tracked_links_sync
from campaigns.split import variant_split_of
from crm.models import Segment, Store
from omnichannel.audit import audit_record
from omnichannel.channels import MESSAGING_CHANNELS

logger = logging.getLogger(__name__)

ERROR_NAME = _("Give the campaign a name.")
ERROR_SEGMENT = _("Choose the audience (a segment).")
ERROR_CHANNELS = _("Choose one to four different channels.")
ERROR_CHANNEL_UNKNOWN = _("Unknown channel: %(channel)s.")
ERROR_SEND_AT_PAST = _("The send time has passed; choose a later one or send now.")
ERROR_SEND_AT_NAIVE = _("The send time needs a time zone.")
ERROR_CAP = _("Give both the number of messages and the number of days, or neither.")
ERROR_NOT_EDITABLE = _("A campaign can be changed only before it is launched.")
ERROR_NOT_LAUNCHABLE = _("Only a draft or a scheduled campaign can be launched.")
ERROR_NOT_PAUSABLE = _("Only a sending campaign can be paused.")
ERROR_NOT_RESUMABLE = _("Only a paused campaign can be resumed.")
ERROR_NOT_CANCELLABLE = _("This campaign has already ended.")
ERROR_TEST_ADDRESS = _("Give an address to send the test to.")
ERROR_SPLIT_VARIANTS = _("Variants are A to D, and A is always one of them.")
ERROR_SPLIT_SHARE = _("Give each variant at least 1%.")
ERROR_SPLIT_SUM = _("The variants' shares must add up to 100%% (now %(sum)s%%).")
ERROR_HOLDOUT = _("The holdout is 0 to 50% of the audience.")
ERROR_WINNER_VARIANTS = _("Winner mode needs at least two variants.")
ERROR_WINNER_METRIC = _("Unknown winner metric: %(metric)s.")
ERROR_WINNER_TEST = _("The test share is 1 to 90% of the sent audience.")
ERROR_WINNER_HOURS = _("Choose the winner after 1 to 168 hours.")
ERROR_WINDOW = _("A conversion window is 1 to 60 days.")
ERROR_UTM = _("Use letters, digits, - and _ only (up to 100).")
ERROR_HOLDOUT_STORE_UNKNOWN = _("Unknown store: %(id)s.")
ERROR_AUTOMATED_TEMPLATE = _(
    "This is an automated message: its job sends it by itself, each run as a campaign of its "
    "own. Edit its content here; it is never launched by hand."
)

AUDIT_LAUNCHED = gettext_noop("Launched campaign %(name)s")
AUDIT_SCHEDULED = gettext_noop("Scheduled campaign %(name)s for %(send_at)s")
# Launched through the API: the actor is a system's key, not a user; its name is the record.
AUDIT_LAUNCHED_BY_KEY = gettext_noop("Launched campaign %(name)s with API key %(key)s")
AUDIT_SCHEDULED_BY_KEY = gettext_noop(
    "Scheduled campaign %(name)s for %(send_at)s with API key %(key)s"
)
AUDIT_PAUSED = gettext_noop("Paused campaign %(name)s")
AUDIT_RESUMED = gettext_noop("Resumed campaign %(name)s")
AUDIT_CANCELLED = gettext_noop("Cancelled campaign %(name)s")


class CampaignInvalid(ValueError):
    """What is wrong, per field: {"name": [...], "content.sms.text": [...], …}."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class CampaignStateError(ValueError):
    """The campaign is not in a state that allows this (a translated message)."""


def campaign_validate(
    *,
    name: str,
    segment: Segment | None,
    channels: Sequence[str],
    contents: dict[str, dict],
    send_at: datetime | None = None,
    quiet_hours: dict | None = None,
    frequency_cap: tuple[int | None, int | None] = (None, None),
    now: datetime | None = None,
    automated: bool = False,
) -> dict[str, list[str]]:
    """Every reason the campaign could not be launched as it is, by field ({} = launchable).

    `automated`: an automated message (a trigger's template, or a run with an audience
    source): its job picks the members, so a segment is optional (it only narrows them)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message) -> None:
        errors.setdefault(field, []).append(str(message))

    if not (name or "").strip():
        add("name", ERROR_NAME)
    if segment is None and not automated:
        add("segment", ERROR_SEGMENT)
    channels = list(channels or [])
    if not 1 <= len(channels) <= 4 or len(set(channels)) != len(channels):
        add("channels", ERROR_CHANNELS)
    for channel in channels:
        if channel not in MESSAGING_CHANNELS:
            add("channels", ERROR_CHANNEL_UNKNOWN % {"channel": channel})
            continue
        for error in content_validate(channel=channel, content=(contents or {}).get(channel) or {}):
            add(f"content.{channel}.{error.field}".rstrip("."), error.message)
    if send_at is not None:
        if timezone.is_naive(send_at):
            add("send_at", ERROR_SEND_AT_NAIVE)
        elif send_at <= (now or timezone.now()):
            add("send_at", ERROR_SEND_AT_PAST)
    for channel, text in (quiet_hours or {}).items():
        try:
            windows_parse(text)
        except QuietHoursError as exc:
            add(f"quiet_hours.{channel}", exc)
    if (frequency_cap[0] is None) != (frequency_cap[1] is None):
        add("frequency_cap", ERROR_CAP)
    return errors


def campaign_split_validate(
    *,
    variant_split: dict | None,
    variant_contents: dict[str, dict[str, dict]] | None,
    channels: Sequence[str],
    holdout_percent: int = 0,
    winner_metric: str = "",
    winner_test_percent: int = 20,
    winner_after_hours: int = 4,
    conversion_windows: tuple[int, int] = (3, 7),
    utm_campaign: str = "",
) -> dict[str, list[str]]:
    """Every reason the variants, holdout, winner mode, windows and UTM name are refused."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message) -> None:
        errors.setdefault(field, []).append(str(message))

    split = dict(variant_split or {})
    if split:
        if not set(split) <= set(VARIANTS) or VARIANT_DEFAULT not in split:
            add("variant_split", ERROR_SPLIT_VARIANTS)
        shares = list(split.values())
        if not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in shares):
            add("variant_split", ERROR_SPLIT_SHARE)
        elif sum(shares) != 100:
            add("variant_split", ERROR_SPLIT_SUM % {"sum": sum(shares)})
    for variant, by_channel in (variant_contents or {}).items():
        if variant == VARIANT_DEFAULT or variant not in split:
            continue
        for channel in channels:
            content = (by_channel or {}).get(channel)
            if not content or channel not in MESSAGING_CHANNELS:
                continue  # no content of its own: the variant says what A says
            for error in content_validate(channel=channel, content=content):
                add(f"content.{variant}.{channel}.{error.field}".rstrip("."), error.message)
    if not (isinstance(holdout_percent, int) and 0 <= holdout_percent <= 50):
        add("holdout_percent", ERROR_HOLDOUT)
    if winner_metric:
        if winner_metric not in WinnerMetric.values:
            add("winner_metric", ERROR_WINNER_METRIC % {"metric": winner_metric})
        if len(split) < 2:
            add("winner_metric", ERROR_WINNER_VARIANTS)
        if not (isinstance(winner_test_percent, int) and 1 <= winner_test_percent <= 90):
            add("winner_test_percent", ERROR_WINNER_TEST)
        if not (isinstance(winner_after_hours, int) and 1 <= winner_after_hours <= 168):
            add("winner_after_hours", ERROR_WINNER_HOURS)
    for field, days in zip(
        ("conversion_window_delivery_days", "conversion_window_click_days"),
        conversion_windows,
        strict=True,
    ):
        if not (isinstance(days, int) and 1 <= days <= 60):
            add(field, ERROR_WINDOW)
    if utm_campaign and not re.fullmatch(r"[-a-zA-Z0-9_]{1,100}", utm_campaign):
        add("utm_campaign", ERROR_UTM)
    return errors


@transaction.atomic
def campaign_save(
    *,
    campaign: Campaign | None = None,
    name: str,
    segment: Segment | None,
    channels: Sequence[str],
    contents: dict[str, dict],
    send_at: datetime | None = None,
    is_marketing: bool = True,
    quiet_hours: dict | None = None,
    frequency_cap: tuple[int | None, int | None] = (None, None),
    variant_split: dict[str, int] | None = None,
    variant_contents: dict[str, dict[str, dict]] | None = None,
    holdout_percent: int = 0,
    holdout_store_ids: Sequence[int] = (),
    winner_metric: str = "",
    winner_test_percent: int = 20,
    winner_after_hours: int = 4,
    conversion_windows: tuple[int, int] = (3, 7),
    utm_campaign: str = "",
    actor=None,
) -> Campaign:
    """Create a campaign (campaign=None) or change a draft. `contents` is variant A's content
    per channel; `variant_contents` B–D's ({"B": {"sms": {…}}}; a channel a variant lacks says
    what A says); `variant_split` {"A": 50, "B": 50} (empty: A only). Raises CampaignInvalid
    with every reason, or CampaignStateError when the campaign was already launched."""
    errors = campaign_validate(
        name=name,
        segment=segment,
        channels=channels,
        contents=contents,
        send_at=send_at,
        quiet_hours=quiet_hours,
        frequency_cap=frequency_cap,
        automated=campaign is not None and bool(campaign.trigger or campaign.audience_source),
    )
    for field, messages in campaign_split_validate(
        variant_split=variant_split,
        variant_contents=variant_contents,
        channels=channels,
        holdout_percent=holdout_percent,
        winner_metric=winner_metric,
        winner_test_percent=winner_test_percent,
        winner_after_hours=winner_after_hours,
        conversion_windows=conversion_windows,
        utm_campaign=utm_campaign,
    ).items():
        errors.setdefault(field, []).extend(messages)
    store_ids = sorted({int(pk) for pk in holdout_store_ids})
    known = set(Store.objects.filter(pk__in=store_ids).values_list("pk", flat=True))
    for pk in store_ids:
        if pk not in known:
            errors.setdefault("holdout_stores", []).append(
                str(ERROR_HOLDOUT_STORE_UNKNOWN % {"id": pk})
            )
    if errors:
        raise CampaignInvalid(errors)
    if campaign is None:
        campaign = Campaign(created_by=actor if getattr(actor, "pk", None) else None)
    elif not Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).exists():
        raise CampaignStateError(str(ERROR_NOT_EDITABLE))
    campaign.name = name.strip()
    campaign.segment = segment
    campaign.channels = list(channels)
    campaign.send_at = send_at
    campaign.is_marketing = is_marketing
    campaign.quiet_hours = quiet_hours or None
    campaign.frequency_cap_messages, campaign.frequency_cap_days = frequency_cap
    split = variant_split_of(variant_split) if variant_split else {}
    campaign.variant_split = split if len(split) > 1 else {}
    campaign.holdout_percent = holdout_percent
    campaign.winner_metric = winner_metric
    campaign.winner_test_percent = winner_test_percent
    campaign.winner_after_hours = winner_after_hours
    (
        campaign.conversion_window_delivery_days,
        campaign.conversion_window_click_days,
    ) = conversion_windows
    campaign.utm_campaign = utm_campaign
    campaign.save()
    campaign.holdout_stores.set(store_ids)
    by_variant = {VARIANT_DEFAULT: contents}
    for variant in campaign.variant_split:
        if variant != VARIANT_DEFAULT:
            by_variant[variant] = {
                channel: content
                for channel, content in ((variant_contents or {}).get(variant) or {}).items()
                if channel in channels and content
            }
    kept = [(v, c) for v, by_channel in by_variant.items() for c in by_channel]
    stale = Message.objects.filter(campaign=campaign)
    for variant, channel in kept:
        stale = stale.exclude(variant=variant, channel=channel)
    stale.delete()
    for variant, channel in kept:
        Message.objects.update_or_create(
            campaign=campaign,
            channel=channel,
            variant=variant,
            defaults={"content": by_variant[variant][channel]},
        )
    tracked_links_sync(campaign_id=campaign.pk)
    return campaign


def campaign_contents(campaign: Campaign) -> dict[str, dict]:
    """Content per channel of the campaign's (first) variant."""
    return {
        channel: content
        for (channel, variant), content in message_contents(campaign_id=campaign.pk).items()
        if variant == VARIANT_DEFAULT
    }


def campaign_variant_contents(campaign: Campaign) -> dict[str, dict[str, dict]]:
    """Content per variant (B–D) and channel: only what a variant says itself."""
    contents: dict[str, dict[str, dict]] = {}
    for (channel, variant), content in message_contents(campaign_id=campaign.pk).items():
        if variant != VARIANT_DEFAULT:
            contents.setdefault(variant, {})[channel] = content
    return contents


def _line_quota_errors(campaign: Campaign) -> dict[str, list[str]]:
    """A launch that would exceed this month's LINE quota is refused (issue 10)."""
    quota = line_quota_get()
    if campaign.segment_id is None or quota is None or quota.remaining is None:
        # No segment either for an automated message's run: its job picked a day's members
        # (a few hundred), not counted here.
        # Unknown or unlimited: nothing to compare, so the audience is not counted (a count
        # over the segment with every channel's reachability, seconds at a million members).
        return {}
    needed = audience_estimate(segment=campaign.segment, channels=campaign.channels).get("line", 0)
    message = line_quota_check(needed=needed)
    return {"channels": [message]} if message else {}


def campaign_launch(
    *, campaign: Campaign, actor=None, api_key=None, now: datetime | None = None
) -> Campaign:
    """Send now, or at `send_at` when it is in the future (the sweep launches it then).

    `api_key` (a crm ApiKey) when a system launched it through the API: the audit names it.

    Raises CampaignInvalid (content a provider would refuse, a missing audience) or
    CampaignStateError (already launched, or an automated message's template: its runs are
    launched by campaigns.services.automated).
    """
    from campaigns.tasks import campaign_snapshot_task

    if campaign.trigger:
        raise CampaignStateError(str(ERROR_AUTOMATED_TEMPLATE))
    now = now or timezone.now()
    errors = campaign_validate(
        name=campaign.name,
        segment=campaign.segment,
        channels=campaign.channels,
        contents=campaign_contents(campaign),
        quiet_hours=campaign.quiet_hours,
        frequency_cap=(campaign.frequency_cap_messages, campaign.frequency_cap_days),
        automated=bool(campaign.audience_source),
    )
    for field, messages in campaign_split_validate(
        variant_split=campaign.variant_split,
        variant_contents=campaign_variant_contents(campaign),
        channels=campaign.channels,
        holdout_percent=campaign.holdout_percent,
        winner_metric=campaign.winner_metric,
        winner_test_percent=campaign.winner_test_percent,
        winner_after_hours=campaign.winner_after_hours,
        conversion_windows=(
            campaign.conversion_window_delivery_days,
            campaign.conversion_window_click_days,
        ),
        utm_campaign=campaign.utm_campaign,
    ).items():
        errors.setdefault(field, []).extend(messages)
    if not errors and "line" in campaign.channels:
        errors = _line_quota_errors(campaign)
    if errors:
        raise CampaignInvalid(errors)
    scheduled = campaign.send_at is not None and campaign.send_at > now
    with transaction.atomic():
        # Race: two clicks on "launch" (or the API and a marketer): the conditional UPDATE lets
        # one through; the other finds the campaign no longer a draft.
        target = Campaign.Status.SCHEDULED if scheduled else Campaign.Status.LAUNCHING
        fields = {"status": target}
        if not scheduled:
            fields["launched_at"] = now
        moved = Campaign.objects.filter(
            pk=campaign.pk,
            status__in=[Campaign.Status.DRAFT] + ([] if scheduled else [Campaign.Status.SCHEDULED]),
        ).update(**fields)
        if not moved:
            raise CampaignStateError(str(ERROR_NOT_LAUNCHABLE))
        # The links as the content has them now (a message changed in the admin, say).
        tracked_links_sync(campaign_id=campaign.pk)
        audit_record(
            action="campaign.scheduled" if scheduled else "campaign.launched",
            actor=actor,
            object_type="campaigns.campaign",
            object_id=campaign.pk,
            summary=(
                (AUDIT_SCHEDULED_BY_KEY if scheduled else AUDIT_LAUNCHED_BY_KEY)
                if api_key is not None
                else (AUDIT_SCHEDULED if scheduled else AUDIT_LAUNCHED)
            ),
            summary_params={
                "name": campaign.name,
                "send_at": timezone.localtime(campaign.send_at).strftime("%Y/%m/%d %H:%M")
                if scheduled
                else "",
                **({"key": f"{api_key.prefix}… “{api_key.name}”"} if api_key is not None else {}),
            },
        )
        if not scheduled:
            transaction.on_commit(lambda: campaign_snapshot_task.delay(campaign.pk))
    campaign.refresh_from_db()
    return campaign


def _status_move(
    *, campaign: Campaign, from_statuses, to_status, error, audit: str, actor, action: str = ""
) -> Campaign:
    with transaction.atomic():
        moved = Campaign.objects.filter(pk=campaign.pk, status__in=from_statuses).update(
            status=to_status
        )
        if not moved:
            raise CampaignStateError(str(error))
        audit_record(
            action=action or f"campaign.{to_status}",
            actor=actor,
            object_type="campaigns.campaign",
            object_id=campaign.pk,
            summary=audit,
            summary_params={"name": campaign.name},
        )
    campaign.refresh_from_db()
    return campaign


def campaign_pause(*, campaign: Campaign, actor=None) -> Campaign:
    """Workers finish the call in progress and leave the rest queued. Raises CampaignStateError."""
    return _status_move(
        campaign=campaign,
        from_statuses=[Campaign.Status.SENDING, Campaign.Status.LAUNCHING],
        to_status=Campaign.Status.PAUSED,
        error=ERROR_NOT_PAUSABLE,
        audit=AUDIT_PAUSED,
        actor=actor,
    )


def campaign_resume(*, campaign: Campaign, actor=None) -> Campaign:
    """Raises CampaignStateError unless paused."""
    from campaigns.services.sweep import batches_dispatch_due
    from campaigns.tasks import campaign_snapshot_task

    # Paused while its audience was still being prepared: it resumes by preparing it.
    # (Winner mode may have deliveries and no batch yet: the outbox, not the batches, says.)
    unprepared = bool(campaign.launched_at) and not campaign.deliveries.exists()
    campaign = _status_move(
        campaign=campaign,
        from_statuses=[Campaign.Status.PAUSED],
        to_status=Campaign.Status.LAUNCHING if unprepared else Campaign.Status.SENDING,
        error=ERROR_NOT_RESUMABLE,
        audit=AUDIT_RESUMED,
        actor=actor,
        action="campaign.resumed",
    )
    if unprepared:
        transaction.on_commit(lambda: campaign_snapshot_task.delay(campaign.pk))
    else:
        batches_dispatch_due(campaign_id=campaign.pk, force=True)
    return campaign


def campaign_cancel(*, campaign: Campaign, actor=None) -> Campaign:
    """Nothing more is sent; waiting deliveries end suppressed ("campaign cancelled"). A call
    in progress finishes. Raises CampaignStateError when the campaign has ended, or for an
    automated message's template (its runs are cancelled one by one; the template stays)."""
    if campaign.trigger:
        raise CampaignStateError(str(ERROR_AUTOMATED_TEMPLATE))
    with transaction.atomic():
        campaign = _status_move(
            campaign=campaign,
            from_statuses=[s for s in Campaign.Status.values if s not in Campaign.FINAL],
            to_status=Campaign.Status.CANCELLED,
            error=ERROR_NOT_CANCELLABLE,
            audit=AUDIT_CANCELLED,
            actor=actor,
        )
        Delivery.objects.filter(campaign=campaign, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.SUPPRESSED, reason=Delivery.Reason.CANCELLED
        )
        SendBatch.objects.filter(campaign=campaign, status=SendBatch.Status.QUEUED).update(
            status=SendBatch.Status.DONE, finished_at=timezone.now()
        )
        Campaign.objects.filter(pk=campaign.pk).update(finished_at=timezone.now())
        campaign_figures_recount_later(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def campaign_test_send(
    *, campaign: Campaign, channel: str, address: str, actor=None, extra: dict | None = None
) -> SendResult:
    """Send the campaign's message on one channel to the marketer's own address, with sample
    values for the personalisation fields. Not a delivery: it counts nowhere.

    Raises CampaignInvalid for content a provider would refuse or an empty address.
    """
    if not (address or "").strip():
        raise CampaignInvalid({"test_address": [str(ERROR_TEST_ADDRESS)]})
    content = campaign_contents(campaign).get(channel) or {}
    errors = content_validate(channel=channel, content=content)
    if errors:
        raise CampaignInvalid(
            {f"content.{channel}.{error.field}": [error.message] for error in errors}
        )
    samples = {field.name: field.sample for field in PERSONALISATION_FIELDS.all()}
    message = OutboundMessage(
        key=f"t{uuid.uuid4().hex}",
        channel=channel,
        address=address.strip(),
        content=content_render(
            channel=channel, content=content, substitute=substitute_with(samples)
        ),
        extra=extra or {},
    )
    with backend_for(channel) as backend:
        (result,) = backend.send_batch([message], retry_key=str(uuid.uuid4()))
    logger.info("test send of campaign %s on %s: %s", campaign.pk, channel, result.status)
    return result
