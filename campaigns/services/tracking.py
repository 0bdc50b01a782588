"""Tracking: the links of a campaign, clicks, opens, and what a message made members do
(unsubscribe, block the LINE account), each written once with the figures it moves.

Every event writes its row (LinkClick, EmailOpen) and adds to the campaign's figures
(CampaignFigures of the delivery's arm "sent", variant and channel) with F() updates in the same
transaction, so the report never disagrees with the rows. "The member's first" (first click,
first open) is decided by a conditional UPDATE of the delivery (clicked_at / opened_at still
empty), whose row count says whether this request was the first: two requests at once cannot
both be first.

Requests a machine made are recorded and flagged, not counted as the member's:
- a link scanner or preview fetcher (by User-Agent, campaigns.tracking.is_link_scanner) that
  follows every link in a message: a LinkClick with `machine`, no figures, no tag, no
  touchpoint, and it is still redirected;
- Apple Mail Privacy Protection's proxy fetching the open pixel on arrival (the bare
  User-Agent "Mozilla/5.0", or an address in Apple's 17.0.0.0/8): an EmailOpen with `machine`,
  the delivery's first such open counted in CampaignFigures.opened_machine, not in `opened`.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    VARIANT_DEFAULT,
    Campaign,
    CampaignFigures,
    Delivery,
    EmailOpen,
    LinkClick,
    Message,
    TrackedLink,
    WebhookEvent,
)
from campaigns.services.conversions import conversions_credit_clicks
from campaigns.tracking import (
    OPEN_NUMBER,
    content_links,
    ip_hash,
    is_link_scanner,
    is_machine_open,
    tracking_code_read,
    utm_for,
    utm_merge,
)
from crm.events import EventHandler, RecordedEvent, register_event_handler
from crm.models import Tag
from crm.services.tags import members_tag_add
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch

logger = logging.getLogger(__name__)

ERROR_CODE_INVALID = _(
    "This link is not valid: it may have been cut off when it was copied. Open it again from "
    "the message."
)
ERROR_CODE_UNKNOWN = _("This link belongs to a message that no longer exists.")
ERROR_LINKS_LOCKED = _("The links of a launched campaign can no longer be changed.")

USER_AGENT_MAX = LinkClick._meta.get_field("user_agent").max_length
# An unsubscribe or a LINE block is put down to the member's latest message on the channel
# when it was sent this long before at most.
ATTRIBUTION_WINDOW = timedelta(days=3)


class TrackingInvalid(ValueError):
    """A forged, mangled or unknown code: nothing is recorded."""


class LinksLocked(ValueError):
    """The campaign was launched: its messages carry their links' numbers already."""


# --- the campaign's links ----------------------------------------------------------------


def tracked_links_sync(*, campaign_id: int) -> int:
    """Make the campaign's TrackedLink rows match its messages' links (one row per distinct
    URL per variant and channel, numbered in the order they appear); a link that stays keeps
    its tracked flag and tags. Returns how many links the campaign has. Safe to run again."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for variant, channel, content in Message.objects.filter(campaign_id=campaign_id).values_list(
        "variant", "channel", "content"
    ):
        wanted[(variant, channel)] = content_links(channel=channel, content=content or {})
    with transaction.atomic():
        # Race: two saves of one draft at once; the campaign's row serialises them.
        Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        existing = list(TrackedLink.objects.filter(campaign_id=campaign_id))
        old = {link.pk: link.number for link in existing}
        keep: list[TrackedLink] = []
        gone: list[int] = []
        have: set[tuple[str, str, str]] = set()
        for link in existing:
            urls = wanted.get((link.variant, link.channel), [])
            key = (link.variant, link.channel, link.url)
            if link.url in urls and key not in have:
                link.number = urls.index(link.url) + 1
                keep.append(link)
                have.add(key)
            else:
                gone.append(link.pk)
        if gone:
            TrackedLink.objects.filter(pk__in=gone).delete()
        changed = [link for link in keep if link.number != old[link.pk]]
        if changed:
            # Numbers are unique per (campaign, variant, channel): move the changed ones out of
            # the way first, then to their places (two statements whatever their count).
            TrackedLink.objects.filter(pk__in=[link.pk for link in changed]).update(
                number=F("number") + 1000
            )
            TrackedLink.objects.bulk_update(changed, ["number"])
        TrackedLink.objects.bulk_create(
            [
                TrackedLink(
                    campaign_id=campaign_id,
                    variant=variant,
                    channel=channel,
                    number=index,
                    url=url,
                )
                for (variant, channel), urls in wanted.items()
                for index, url in enumerate(urls, start=1)
                if (variant, channel, url) not in have
            ]
        )
    return sum(len(urls) for urls in wanted.values())


def tracked_links_update(
    *, campaign: Campaign, choices: Mapping[int, tuple[bool, Iterable[int]]]
) -> int:
    """Set each link's tracked flag and tags: {link id: (tracked, tag ids)}. Links of other
    campaigns are ignored. Raises LinksLocked once the campaign was launched (its messages
    carry the codes already)."""
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign.pk, status__in=Campaign.EDITABLE).exists():
            raise LinksLocked(str(ERROR_LINKS_LOCKED))
        links = list(TrackedLink.objects.filter(campaign=campaign, pk__in=list(choices)))
        asked = {tag_id for _tracked, tag_ids in choices.values() for tag_id in tag_ids}
        tags = set(Tag.objects.filter(pk__in=asked).values_list("pk", flat=True))
        for link in links:
            link.tracked = bool(choices[link.pk][0])
        TrackedLink.objects.bulk_update(links, ["tracked"])
        through = TrackedLink.tags.through
        through.objects.filter(trackedlink_id__in=[link.pk for link in links]).delete()
        through.objects.bulk_create(
            [
                through(trackedlink_id=link.pk, tag_id=tag_id)
                for link in links
                for tag_id in dict.fromkeys(choices[link.pk][1])
                if tag_id in tags
            ]
        )
    return len(links)


def links_for_sending(*, campaign_id: int, channel: str) -> dict[str, dict[str, int]]:
    """{variant: {url: number}} of the tracked links of one channel (what the pipeline
    rewrites)."""
    by_variant: dict[str, dict[str, int]] = defaultdict(dict)
    rows = TrackedLink.objects.filter(
        campaign_id=campaign_id, channel=channel, tracked=True
    ).values_list("variant", "url", "number")
    for variant, url, number in rows:
        by_variant[variant][url] = number
    return dict(by_variant)


# --- figures -----------------------------------------------------------------------------


def _figures_add(*, campaign_id: int, variant: str, channel: str, **increments: int) -> None:
    """Add to the "sent" arm's figures of (campaign, variant, channel); the caller's
    transaction holds the event's own row."""
    increments = {field: n for field, n in increments.items() if n}
    if not increments:
        return
    CampaignFigures.objects.bulk_create(
        [
            CampaignFigures(
                campaign_id=campaign_id,
                arm=CampaignFigures.Arm.SENT,
                variant=variant,
                channel=channel,
            )
        ],
        ignore_conflicts=True,
    )
    CampaignFigures.objects.filter(
        campaign_id=campaign_id, arm=CampaignFigures.Arm.SENT, variant=variant, channel=channel
    ).update(**{field: F(field) + n for field, n in increments.items()}, updated_at=timezone.now())


@dataclass(frozen=True)
class _Target:
    delivery_id: int
    campaign_id: int
    member_id: int
    variant: str
    channel: str
    utm_campaign: str


def _target(delivery_id: int) -> _Target | None:
    row = (
        Delivery.objects.filter(pk=delivery_id)
        .exclude(channel="")
        .values_list("campaign_id", "member_id", "variant", "channel", "campaign__utm_campaign")
        .first()
    )
    return _Target(delivery_id, *row) if row else None


# --- clicks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    url: str  # where to send the member (with UTM parameters)
    counted: bool  # False: a link scanner's request, recorded and flagged only
    first: bool  # the member's first click on this message


def link_click_record(
    *,
    code: str,
    user_agent: str,
    ip: str | None,
    at: datetime | None = None,
    record: bool = True,
) -> Click:
    """Record one request of a tracked link and answer where it leads (`record` False: only
    where it leads, for a HEAD request, which scanners make and browsers do not).

    The member's click (not a scanner's): Delivery.clicked_at on the first, CampaignFigures
    clicks +1 (clicked +1 on the first), the link's tags on the member, a touchpoint
    "link_clicked". Raises TrackingInvalid for a forged or unknown code (nothing recorded).
    """
    read = tracking_code_read(code)
    if read is None or read[1] == OPEN_NUMBER:
        raise TrackingInvalid(ERROR_CODE_INVALID)
    delivery_id, number = read
    target = _target(delivery_id)
    link = None
    if target is not None:
        # A variant with no content of its own on the channel was sent A's, with A's links
        # (campaigns.services.sending): its own link first, else A's.
        link = (
            TrackedLink.objects.filter(
                campaign_id=target.campaign_id,
                variant__in={target.variant, VARIANT_DEFAULT},
                channel=target.channel,
                number=number,
            )
            .prefetch_related("tags")
            .order_by(Case(When(variant=target.variant, then=Value(0)), default=Value(1)))
            .first()
        )
    if target is None or link is None:
        raise TrackingInvalid(ERROR_CODE_UNKNOWN)
    at = at or timezone.now()
    user_agent = (user_agent or "")[:USER_AGENT_MAX]
    if not record:
        return Click(url=_utm_url(target, link.url), counted=False, first=False)
    machine = is_link_scanner(user_agent)
    first = False
    with transaction.atomic():
        LinkClick.objects.create(
            delivery_id=delivery_id,
            link=link,
            url=link.url,
            at=at,
            user_agent=user_agent,
            ip_hash=ip_hash(ip),
            machine=machine,
        )
        if not machine:
            first = _clicked(target, at=at, url=link.url)
            for tag in link.tags.all():
                members_tag_add(members=[target.member_id], tag=tag, actor=None)
    return Click(url=_utm_url(target, link.url), counted=not machine, first=first)


def _utm_url(target: _Target, url: str) -> str:
    return utm_merge(
        url,
        utm_for(
            channel=target.channel,
            campaign_id=target.campaign_id,
            utm_campaign=target.utm_campaign,
            variant=target.variant,
        ),
    )


def _clicked(target: _Target, *, at: datetime, url: str, source: str = "") -> bool:
    """The member's click: first-click mark, figures, touchpoint. True when it was the first."""
    first = bool(
        Delivery.objects.filter(pk=target.delivery_id, clicked_at__isnull=True).update(
            clicked_at=at
        )
    )
    if first:
        # The click opens a conversion window of its own: orders the feed already brought
        # (placed after the click, fed before it was recorded) are credited now.
        conversions_credit_clicks(delivery_ids=[target.delivery_id])
    _figures_add(
        campaign_id=target.campaign_id,
        variant=target.variant,
        channel=target.channel,
        clicks=1,
        clicked=int(first),
    )
    touchpoints_write_batch(
        touchpoints=[
            TouchpointIn(
                channel=target.channel,
                kind="link_clicked",
                at=at,
                properties={
                    "campaign_id": target.campaign_id,
                    "delivery_id": target.delivery_id,
                    "url": url,
                }
                | ({"source": source} if source else {}),
            )
        ],
        member_ids=[target.member_id],
    )
    return first


# --- opens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Open:
    machine: bool
    first: bool  # the member's first open (or, for a machine open, the delivery's first one)


def message_open_record(
    *,
    delivery_id: int,
    user_agent: str = "",
    ip: str | None = None,
    source: str = "",
    machine: bool | None = None,
    at: datetime | None = None,
) -> Open:
    """Record an open of a delivery (the pixel, an ESP's event, the app's report).

    `machine` None: decided from the request (Apple Mail Privacy Protection). The member's
    first open sets Delivery.opened_at, adds 1 to CampaignFigures.opened and writes a
    touchpoint "message_opened"; a machine open adds 1 to opened_machine once per delivery.
    Raises TrackingInvalid for a delivery that does not exist.
    """
    target = _target(delivery_id)
    if target is None:
        raise TrackingInvalid(ERROR_CODE_UNKNOWN)
    at = at or timezone.now()
    user_agent = (user_agent or "")[:USER_AGENT_MAX]
    if machine is None:
        machine = is_machine_open(user_agent=user_agent, ip=ip)
    with transaction.atomic():
        if machine:
            # Race: two proxy fetches at once; the delivery's row lock lets one count.
            Delivery.objects.select_for_update().filter(pk=delivery_id).values("pk").first()
            first = not EmailOpen.objects.filter(delivery_id=delivery_id, machine=True).exists()
        else:
            first = bool(
                Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(opened_at=at)
            )
        EmailOpen.objects.create(
            delivery_id=delivery_id,
            at=at,
            user_agent=user_agent,
            ip_hash=ip_hash(ip),
            machine=machine,
            source=source[:40],
        )
        if machine:
            _figures_add(
                campaign_id=target.campaign_id,
                variant=target.variant,
                channel=target.channel,
                opened_machine=int(first),
            )
        elif first:
            _figures_add(
                campaign_id=target.campaign_id,
                variant=target.variant,
                channel=target.channel,
                opened=1,
            )
            touchpoints_write_batch(
                touchpoints=[
                    TouchpointIn(
                        channel=target.channel,
                        kind="message_opened",
                        at=at,
                        properties={
                            "campaign_id": target.campaign_id,
                            "delivery_id": delivery_id,
                        }
                        | ({"source": source} if source else {}),
                    )
                ],
                member_ids=[target.member_id],
            )
    return Open(machine=machine, first=first)


def email_open_record(
    *, code: str, user_agent: str, ip: str | None, at: datetime | None = None
) -> Open:
    """A fetch of an e-mail's open pixel. Raises TrackingInvalid for a bad code."""
    read = tracking_code_read(code)
    if read is None or read[1] != OPEN_NUMBER:
        raise TrackingInvalid(ERROR_CODE_INVALID)
    return message_open_record(delivery_id=read[0], user_agent=user_agent, ip=ip, at=at)


def push_open_record(
    *,
    code: str,
    at: datetime | None = None,
    source: str = "app",
    member_id: int | None = None,
) -> Open:
    """The app's report that a push was opened (tapped), with the tracking code its payload
    carried. Raises TrackingInvalid for a bad code, one of another channel's message, or (with
    `member_id`, the member the app's event names) another member's message."""
    read = tracking_code_read(code)
    if read is None or read[1] != OPEN_NUMBER:
        raise TrackingInvalid(ERROR_CODE_INVALID)
    target = _target(read[0])
    if target is None or target.channel != "push":
        raise TrackingInvalid(ERROR_CODE_UNKNOWN)
    if member_id is not None and target.member_id != member_id:
        raise TrackingInvalid(ERROR_CODE_UNKNOWN)
    return message_open_record(delivery_id=read[0], source=source, machine=False, at=at)


# --- an ESP's events (anymail) -----------------------------------------------------------

ESP_KINDS = ("opened", "clicked", "delivered")


def email_engagement_record(
    *,
    provider: str,
    event_id: str,
    kind: str,
    delivery_id: int,
    user_agent: str = "",
    url: str = "",
    at: datetime | None = None,
) -> bool:
    """An ESP's open, click or delivery event of one delivery, once per (provider, event id):
    an open as the pixel's, a click on a link the ESP tracked (a click on our own tracked
    link is counted by our redirect, not twice), a delivery as CampaignFigures.delivered +1.
    Answers False for a replay or a delivery we do not know."""
    if kind not in ESP_KINDS:
        raise ValueError(f"not an engagement event: {kind!r}")
    target = _target(delivery_id)
    if target is None:
        return False
    at = at or timezone.now()
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(provider=provider[:20], event_id=event_id)
            if kind == "opened":
                message_open_record(
                    delivery_id=delivery_id, user_agent=user_agent, source=provider, at=at
                )
            elif kind == "clicked":
                if _is_our_link(url):
                    return True
                machine = is_link_scanner(user_agent) if user_agent else False
                LinkClick.objects.create(
                    delivery_id=delivery_id,
                    url=url[:2000],
                    at=at,
                    user_agent=(user_agent or "")[:USER_AGENT_MAX],
                    machine=machine,
                    source=provider[:40],
                )
                if not machine:  # a scanner's click is kept, not counted (as on /r/)
                    _clicked(target, at=at, url=url, source=provider)
            else:
                _figures_add(
                    campaign_id=target.campaign_id,
                    variant=target.variant,
                    channel=target.channel,
                    delivered=1,
                )
    except IntegrityError:
        return False
    return True


def _is_our_link(url: str) -> bool:
    from campaigns.tracking import public_base

    return bool(url) and url.startswith(f"{public_base()}/r/")


# --- what a message made members do ------------------------------------------------------


def _attribute(*, at_by_member: Mapping[int, datetime], channel: str, field: str) -> int:
    """Put each member's unsubscribe or block down to their latest sent delivery on the
    channel within ATTRIBUTION_WINDOW before it: `field` +1 on that delivery's figures.
    One query for all the members; returns how many were attributed."""
    if not at_by_member:
        return 0
    earliest = min(at_by_member.values()) - ATTRIBUTION_WINDOW
    latest = max(at_by_member.values())
    rows = (
        Delivery.objects.filter(
            member_id__in=list(at_by_member),
            channel=channel,
            status=Delivery.Status.SENT,
            sent_at__gte=earliest,
            sent_at__lte=latest,
        )
        .order_by("member_id", "-sent_at", "-pk")
        .values_list("member_id", "campaign_id", "variant", "sent_at")
    )
    chosen: dict[int, tuple[int, str]] = {}
    for member_id, campaign_id, variant, sent_at in rows:
        at = at_by_member[member_id]
        if member_id in chosen or not (at - ATTRIBUTION_WINDOW <= sent_at <= at):
            continue
        chosen[member_id] = (campaign_id, variant)
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for key in chosen.values():
        counts[key] += 1
    for (campaign_id, variant), n in sorted(counts.items()):
        _figures_add(campaign_id=campaign_id, variant=variant, channel=channel, **{field: n})
    return len(chosen)


def unsubscribe_attribute(*, member_id: int, channel: str, at: datetime) -> bool:
    """An unsubscribe on `channel`, put down to the campaign the member last got on it."""
    return bool(_attribute(at_by_member={member_id: at}, channel=channel, field="unsubscribed"))


def line_blocks_attribute(*, at_by_member: Mapping[int, datetime]) -> int:
    """LINE blocks (unfollows), each put down to the member's latest LINE campaign message."""
    return _attribute(at_by_member=at_by_member, channel="line", field="line_blocked")


# --- the app's events (crm's ingest API) -------------------------------------------------

PUSH_OPENED = "push_opened"


def on_push_opened(event: RecordedEvent) -> None:
    """crm event handler: a "push_opened" event whose properties carry the push's tracking
    code ({"tracking": "<code>"}, from the FCM data or the Web Push payload) is an open of that
    message. An event without a readable code is only the touchpoint crm wrote."""
    code = event.properties.get("tracking") if isinstance(event.properties, Mapping) else None
    if not isinstance(code, str):
        return
    try:
        push_open_record(code=code, at=event.at, source="app", member_id=event.member_id)
    except TrackingInvalid:
        logger.info("push_opened event %s: tracking code not ours", event.touchpoint_id)


def register_tracking_event_handlers() -> None:
    register_event_handler(
        EventHandler(name="campaigns.push_opened", kinds=(PUSH_OPENED,), handle=on_push_opened)
    )
