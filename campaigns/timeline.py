"""Each member's campaign messages on the 360° timeline (crm's timeline registry).

One query on (member, sent_at), limited to the page: only messages that went out have a time
on that index; waiting, failed and suppressed ones are on the campaign's own page.
"""

from django.urls import reverse
from django.utils.translation import gettext as _

from campaigns.models import Delivery
from crm.timeline import Cursor, TimelineEntry, TimelineSource, before_q, register_timeline_source


def message_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        Delivery.objects.filter(
            before_q("message", before, at="sent_at"),
            member_id=member_id,
            sent_at__isnull=False,
        )
        .select_related("campaign")
        .order_by("-sent_at", "-pk")[:limit]
    )
    return [
        TimelineEntry(
            at=delivery.sent_at,
            kind="message",
            id=delivery.pk,
            channel=delivery.channel,
            title=_("%(channel)s message sent") % {"channel": delivery.get_channel_display()},
            detail=_("Campaign: %(name)s") % {"name": delivery.campaign.name},
            # What the member did with it (opens and clicks are also touchpoints of their own).
            status=_("Clicked")
            if delivery.clicked_at
            else (_("Opened") if delivery.opened_at else ""),
            url=reverse("campaigns:detail", args=[delivery.campaign_id]),
            obj=delivery,
        )
        for delivery in rows
    ]


def register_campaign_timeline_sources() -> None:
    register_timeline_source(TimelineSource(kind="message", fetch=message_entries))
