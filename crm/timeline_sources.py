"""crm's own timeline sources: orders, touchpoints, merges, consent decisions and notes.

Each is one query over an index that starts with the member (orders (member, placed_at),
touchpoints (member, at), merges (survivor, at) and (merged, at), consents (member, channel, at),
notes (member, at)), limited to the page size.
"""

from django.db.models import Q
from django.utils.translation import gettext as _

from crm.labels import source_label, touchpoint_detail, touchpoint_kind_label
from crm.models import Consent, MemberNote, MergeLog, Order, Touchpoint
from crm.timeline import Cursor, TimelineEntry, TimelineSource, before_q, register_timeline_source
from omnichannel.channels import Channel


def _channel_label(channel: str) -> str:
    try:
        return str(Channel(channel).label)
    except ValueError:
        return channel


def order_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        Order.objects.filter(before_q("order", before, at="placed_at"), member_id=member_id)
        .select_related("store", "returns_order")
        .order_by("-placed_at", "-pk")[:limit]
    )
    return [_order_entry(order) for order in rows]


def _order_entry(order: Order) -> TimelineEntry:
    where = order.store.name if order.store else _channel_label(order.channel)
    if order.returns_order_id or order.amount_twd < 0:
        title = _("Return at %(where)s") % {"where": where}
        sale = order.returns_order
        detail = (
            _("Returns %(no)s of %(date)s")
            % {"no": sale.external_no, "date": sale.placed_at.strftime("%Y/%m/%d")}
            if sale
            else _("Returns %(no)s (sale not received yet)")
            % {"no": order.returns_external_no or "?"}
        )
        icon = "arrow-return-left"
    else:
        title = _("Purchase at %(where)s") % {"where": where}
        detail = _("Order %(no)s") % {"no": order.external_no}
        icon = ""
    status = "" if order.status == Order.Status.PLACED else str(order.get_status_display())
    return TimelineEntry(
        at=order.placed_at,
        kind="order",
        id=order.pk,
        channel=order.channel,
        icon=icon,
        title=title,
        detail=detail,
        amount_twd=order.amount_twd,
        status=status,
        obj=order,
    )


def touchpoint_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = Touchpoint.objects.filter(before_q("touchpoint", before), member_id=member_id).order_by(
        "-at", "-pk"
    )[:limit]
    return [
        TimelineEntry(
            at=t.at,
            kind="touchpoint",
            id=t.pk,
            channel=t.channel,
            title=touchpoint_kind_label(t.kind),
            detail=touchpoint_detail(t.kind, t.properties),
            obj=t,
        )
        for t in rows
    ]


def merge_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        MergeLog.objects.filter(
            Q(survivor_id=member_id) | Q(merged_id=member_id), before_q("merge", before)
        )
        .select_related("survivor", "merged", "actor")
        .order_by("-at", "-pk")[:limit]
    )
    entries = []
    for log in rows:
        if log.survivor_id == member_id:
            title = _("Merged in %(no)s") % {"no": log.merged.member_no}
        else:
            title = _("Merged into %(no)s") % {"no": log.survivor.member_no}
        entries.append(
            TimelineEntry(
                at=log.at,
                kind="merge",
                id=log.pk,
                icon="intersect",
                title=title,
                # The matched identifiers and the free-text reason are personal data: the
                # template shows them through crm/_merge_how.html, masked by the viewer's role.
                detail=_("Source: %(source)s") % {"source": source_label(log.source)}
                if log.source
                else "",
                status=_("Undone") if log.undone_at else "",
                obj=log,
            )
        )
    return entries


def consent_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = Consent.objects.filter(before_q("consent", before), member_id=member_id).order_by(
        "-at", "-pk"
    )[:limit]
    return [
        TimelineEntry(
            at=c.at,
            kind="consent",
            id=c.pk,
            channel=c.channel,
            icon="check2-circle" if c.state == Consent.State.OPTED_IN else "slash-circle",
            title=(
                _("Opted in to %(channel)s")
                if c.state == Consent.State.OPTED_IN
                else _("Opted out of %(channel)s")
            )
            % {"channel": _channel_label(c.channel)},
            detail=_("Source: %(source)s") % {"source": source_label(c.source) or "—"},
            obj=c,
        )
        for c in rows
    ]


def note_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        MemberNote.objects.filter(before_q("note", before), member_id=member_id)
        .select_related("author")
        .order_by("-at", "-pk")[:limit]
    )
    return [
        TimelineEntry(
            at=n.at,
            kind="note",
            id=n.pk,
            icon="sticky",
            title=_("Note by %(author)s") % {"author": n.author or "—"},
            detail=n.body,
            obj=n,
        )
        for n in rows
    ]


def register_crm_timeline_sources() -> None:
    for kind, fetch in (
        ("order", order_entries),
        ("touchpoint", touchpoint_entries),
        ("merge", merge_entries),
        ("consent", consent_entries),
        ("note", note_entries),
    ):
        register_timeline_source(TimelineSource(kind=kind, fetch=fetch))
