"""What every rollup writes with: Taipei days as ranges and as a grouping, month arithmetic,
dates from raw rows, INSERT … SELECT that keeps the rows in the database, and emptying a table
for a rebuild."""

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDate

DAYS_CHUNK = 60  # days recomputed per statement (a history import may touch years)


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_start(day: date) -> datetime:
    """The first instant of a Taipei day."""
    return datetime.combine(day, time.min, tzinfo=local_zone())


def days_q(field: str, days: Iterable[date]) -> Q:
    """Rows whose `field` falls on any of these Taipei days: one range each, so the field's
    index serves them."""
    q = Q(pk__in=[])
    for day in sorted(days):
        q |= Q(
            **{f"{field}__gte": day_start(day), f"{field}__lt": day_start(day + timedelta(days=1))}
        )
    return q


def local_day(field: str) -> TruncDate:
    """The Taipei day of a datetime field, for grouping."""
    return TruncDate(field, tzinfo=local_zone())


def add_months(month: date, n: int) -> date:
    """The first day of the month n months after `month`'s (before, for n < 0)."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def as_date(value) -> date | None:
    """A date from a raw SQL row (SQLite gives the results of its date functions as text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def insert_sql(model, columns: Sequence[str], select_sql: str, params: Sequence) -> int:
    """INSERT INTO model's table (columns) followed by a SELECT of ours. Returns the rows."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {select_sql}", params)
        return cursor.rowcount


def insert_select(model, columns: Sequence[str], select: QuerySet) -> int:
    """INSERT INTO model's table (columns) SELECT …: the rows never pass through Python."""
    sql, params = select.query.sql_with_params()
    return insert_sql(model, columns, sql, params)


def table_empty(model) -> None:
    """Delete every row of a rollup (TRUNCATE on PostgreSQL: no dead rows left to vacuum; it
    locks the table until the transaction ends, so only rebuilds use it)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table}")
        else:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (our table name)
