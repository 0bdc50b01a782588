"""Saved segments: create, change, delete, count (the definition is crm.segments')."""

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Segment
from crm.segments import SegmentDefinitionError, segment_count, segment_definition_validate
from crm.segments.ready_made import READY_MADE

logger = logging.getLogger(__name__)

NAME_MAX = 100
NAME_REQUIRED = _("Give the segment a name.")
NAME_TOO_LONG = _("A name has at most 100 characters.")
READY_MADE_FIXED = _("Ready-made segments cannot be changed or deleted; copy one instead.")


class SegmentError(ValueError):
    """A segment cannot be saved or changed as asked; the message says why (shown to users)."""


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise SegmentError(NAME_REQUIRED)
    if len(name) > NAME_MAX:
        raise SegmentError(NAME_TOO_LONG)
    return name


@transaction.atomic
def segment_create(
    *,
    name: str,
    definition: dict[str, Any],
    description: str = "",
    created_by: AbstractBaseUser | None = None,
) -> Segment:
    """Save a segment and count it (one query). Raises SegmentError (name) and
    SegmentDefinitionError (rules, every problem with its path)."""
    name = _clean_name(name)
    count = segment_count(definition)  # validates first
    return Segment.objects.create(
        name=name,
        description=description.strip(),
        definition=definition,
        member_count=count,
        counted_at=timezone.now(),
        created_by=created_by,
    )


@transaction.atomic
def segment_update(
    *,
    segment: Segment,
    name: str | None = None,
    description: str | None = None,
    definition: dict[str, Any] | None = None,
) -> Segment:
    """Change what is given; a new definition is counted again. Raises SegmentError
    (ready-made, name) and SegmentDefinitionError."""
    if segment.ready_made:
        raise SegmentError(READY_MADE_FIXED)
    if name is not None:
        segment.name = _clean_name(name)
    if description is not None:
        segment.description = description.strip()
    if definition is not None:
        segment.member_count = segment_count(definition)
        segment.counted_at = timezone.now()
        segment.definition = definition
    segment.save()
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Delete a saved segment (campaigns keep the audience they snapshotted).
    Raises SegmentError for a ready-made one."""
    if segment.ready_made:
        raise SegmentError(READY_MADE_FIXED)
    segment.delete()


def segment_count_refresh(*, segment_id: int, now: datetime | None = None) -> int | None:
    """Count one saved segment again and store it; None (stored too) when its definition no
    longer compiles, e.g. a rule of an app since removed."""
    segment = Segment.objects.get(pk=segment_id)
    now = now or timezone.now()
    try:
        count = segment_count(segment.definition, now=now)
    except SegmentDefinitionError as error:
        logger.warning("segment %s no longer compiles: %s", segment.pk, error)
        count = None
    # Race: an edit saved while this counted already stored its own count; the conditional
    # UPDATE (on updated_at, which only saves move) leaves that one alone.
    Segment.objects.filter(pk=segment.pk, updated_at=segment.updated_at).update(
        member_count=count, counted_at=now
    )
    return count


def segment_counts_refresh(*, now: datetime | None = None) -> int:
    """Count every saved segment again, one query each. Safe to run twice (the second run
    writes the same counts). Returns how many segments were counted."""
    now = now or timezone.now()
    ids = list(Segment.objects.order_by("pk").values_list("pk", flat=True))
    for segment_id in ids:
        segment_count_refresh(segment_id=segment_id, now=now)
    return len(ids)


def segments_ready_made_sync() -> int:
    """Create or update the ready-made segments (crm.segments.ready_made) by key; a second run
    changes nothing. Counts are left to the refresh job. Returns segments created."""
    created = 0
    existing = {segment.ready_made: segment for segment in Segment.objects.exclude(ready_made="")}
    for ready in READY_MADE:
        segment_definition_validate(ready.definition)
        wanted = {
            "name": ready.name,
            "description": ready.description,
            "definition": ready.definition,
        }
        segment = existing.get(ready.key)
        if segment is None:
            Segment.objects.create(ready_made=ready.key, **wanted)
            created += 1
        elif any(getattr(segment, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(segment, field, value)
            segment.save()
    return created
