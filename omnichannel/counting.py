"""Counting the rows of a query without scanning a big table.

Up to `exact_limit` rows the count is exact: a COUNT over a LIMITed subquery, which reads at
most that many rows. Past it, on PostgreSQL, it is the planner's estimate: pg_class.reltuples
for an unfiltered table, EXPLAIN's row estimate for a filtered query. Other databases (SQLite,
small by nature) count exactly. The admin's LargeTablePaginator and the member list share it.
"""

import json
from dataclasses import dataclass

from django.db import connections
from django.db.models import QuerySet

EXACT_COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class RowCount:
    value: int
    estimated: bool = False  # the planner's estimate: show it as "about"


def rows_count(queryset: QuerySet, *, exact_limit: int | None = None) -> RowCount:
    """How many rows the queryset holds: exact up to exact_limit (EXACT_COUNT_LIMIT), the
    planner's estimate past it on PostgreSQL."""
    if exact_limit is None:
        exact_limit = EXACT_COUNT_LIMIT
    bounded = queryset.order_by()[: exact_limit + 1].count()
    if bounded <= exact_limit:
        return RowCount(bounded)
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return RowCount(queryset.count())
    if queryset.query.where:
        estimate = _plan_estimate(queryset, connection)
    else:
        estimate = _table_estimate(queryset, connection)
    return RowCount(max(estimate, bounded), estimated=True)


def _table_estimate(queryset: QuerySet, connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else -1  # -1: never analysed


def _plan_estimate(queryset: QuerySet, connection) -> int:
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
