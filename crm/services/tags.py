"""Tags on many members at once: set-wise, one statement each, whatever the list's size."""

import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F, QuerySet

from crm.models import Member, Tag

logger = logging.getLogger(__name__)


def _active(members: QuerySet[Member] | Iterable[int]) -> QuerySet[Member]:
    if not isinstance(members, QuerySet):
        members = Member.objects.filter(pk__in=list(members))
    # Merged and erased members carry no tags: only the survivor of a merge is tagged.
    return members.filter(status=Member.Status.ACTIVE).order_by().values(chosen_id=F("pk"))


def members_tag_add(*, members: QuerySet[Member] | Iterable[int], tag: Tag, actor) -> int:
    """Tag every active member of `members` (a queryset or pks); returns how many were new.

    One INSERT … SELECT … ON CONFLICT DO NOTHING: the member ids never travel to Python, so a
    list of a million members is one statement, and members who had the tag are left as they
    were (a second run adds 0).
    """
    through = Tag.members.through
    sql, params = _active(members).query.sql_with_params()
    table = connection.ops.quote_name(through._meta.db_table)
    # WHERE true: SQLite needs it to read ON CONFLICT after an INSERT … SELECT. The inner SQL
    # is Django's own compilation of the queryset, its values passed as parameters.
    statement = (
        f"INSERT INTO {table} (tag_id, member_id) SELECT %s, chosen.chosen_id "  # noqa: S608
        f"FROM ({sql}) chosen WHERE true ON CONFLICT DO NOTHING"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [tag.pk, *params])
        added = cursor.rowcount
    logger.info("tag %s added to %s members by %s", tag.pk, added, getattr(actor, "pk", None))
    return added


def members_tag_remove(*, members: QuerySet[Member] | Iterable[int], tag: Tag, actor) -> int:
    """Take the tag off every active member of `members`; one DELETE, returns how many."""
    through = Tag.members.through
    with transaction.atomic():
        chosen = _active(members).values("pk")
        removed, _ = through.objects.filter(tag=tag, member_id__in=chosen).delete()
    logger.info("tag %s removed from %s members by %s", tag.pk, removed, getattr(actor, "pk", None))
    return removed
