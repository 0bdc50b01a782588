"""The audit trail: `audit_record(...)`, called by every sensitive verb inside its transaction,
and the page's read (`audit_events_page`).

The request's client address reaches the services without a `request` argument through a
context variable the AuditContextMiddleware sets for the request (and resets after it); a
Celery task or a command leaves it empty.
"""

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core import signing
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_noop

from omnichannel.models import AuditEvent

AUDIT_PAGE_SIZE = 50
SUMMARY_MAX = AuditEvent._meta.get_field("summary").max_length
AUDIT_EXPORT_MASKED = gettext_noop("%(model)s: %(rows)s rows as %(format)s, masked")
AUDIT_EXPORT_UNMASKED = gettext_noop("%(model)s: %(rows)s rows as %(format)s, with personal data")
AUDIT_EXPORT_UNCOUNTED_MASKED = gettext_noop("%(model)s as %(format)s, masked")
AUDIT_EXPORT_UNCOUNTED_UNMASKED = gettext_noop("%(model)s as %(format)s, with personal data")

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_ip", default=None)


def audit_record(
    *,
    action: str,
    actor=None,
    object_type: str = "",
    object_id: object = "",
    summary: str = "",
    summary_params: dict | None = None,
    with_personal_data: bool = False,
) -> AuditEvent:
    """Write one audit event. Call it inside the action's transaction.

    `summary` is an English msgid marked with gettext_noop, with `%(name)s` placeholders filled
    from `summary_params` when the event is shown, in the reader's language. Neither may hold
    personal data: record numbers, counts, channels, formats.
    """
    actor = actor if actor is not None and getattr(actor, "pk", None) else None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=str(object_id)[:50],
        summary=summary[:SUMMARY_MAX],
        summary_params=summary_params or {},
        with_personal_data=with_personal_data,
        ip=_client_ip.get(),
    )


def export_audit_record(
    *, actor, model_label: str, file_format: str, unmask: bool, rows: int | None, object_id=""
) -> None:
    """The audit event of an export (queued, or streamed at once by the admin); `rows` is None
    when the export is written without counting its rows first."""
    if rows is None:
        summary = AUDIT_EXPORT_UNCOUNTED_UNMASKED if unmask else AUDIT_EXPORT_UNCOUNTED_MASKED
    else:
        summary = AUDIT_EXPORT_UNMASKED if unmask else AUDIT_EXPORT_MASKED
    audit_record(
        action=AuditEvent.Action.EXPORT,
        actor=actor,
        object_type=model_label,
        object_id=object_id,
        summary=summary,
        summary_params={"model": model_label, "rows": rows, "format": file_format.upper()},
        with_personal_data=unmask,
    )


class AuditContextMiddleware:
    """Makes the request's client address available to audit_record for its duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # REMOTE_ADDR: the proxy in front sets it; a client-sent X-Forwarded-For is not trusted.
        token = _client_ip.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            _client_ip.reset(token)


# --- The page's read ------------------------------------------------------------------------

_CURSOR_SIGNER = signing.Signer(salt="omnichannel.audit-cursor")


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor_id: int | None = None
    since: date | None = None
    until: date | None = None  # inclusive


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


class InvalidAuditCursor(ValueError):
    pass


def _filtered(filters: AuditFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.actor_id is not None:
        events = events.filter(actor_id=filters.actor_id)
    tz = timezone.get_current_timezone()
    if filters.since:
        events = events.filter(at__gte=datetime.combine(filters.since, time.min, tzinfo=tz))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=tz)
        events = events.filter(at__lt=end)
    return events


def audit_events_page(
    *, filters: AuditFilters, after: str = "", size: int = AUDIT_PAGE_SIZE
) -> AuditPage:
    """Newest first, keyset-paged on (at, id): no OFFSET, no COUNT.

    Raises InvalidAuditCursor for a cursor this function did not hand out.
    """
    events = _filtered(filters)
    if after:
        try:
            at_text, _, pk_text = _CURSOR_SIGNER.unsign(after).partition("|")
            at, pk = datetime.fromisoformat(at_text), int(pk_text)
        except (signing.BadSignature, ValueError) as exc:
            raise InvalidAuditCursor(after) from exc
        events = events.filter(Q(at__lt=at) | Q(at=at, pk__lt=pk))
    rows = list(events.select_related("actor").order_by("-at", "-pk")[: size + 1])
    next_cursor = None
    if len(rows) > size:
        last = rows[size - 1]
        next_cursor = _CURSOR_SIGNER.sign(f"{last.at.isoformat()}|{last.pk}")
    return AuditPage(events=rows[:size], next_cursor=next_cursor)
