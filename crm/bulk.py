"""Bulk writes for the import path: COPY on PostgreSQL, bulk_create on the embedded SQLite.

COPY skips the ORM's per-value preparation and the INSERT parser, which is most of the cost of
writing a million rows. Rows go in as tuples in the order of `fields`; values are what psycopg
adapts (str, int, date, aware datetime, None), so the caller writes JSON fields as JSON text.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence

from django.db import connection, models
from django.db.models import Case, Value, When

CASE_CHUNK = 500  # rows one UPDATE … CASE sets to different values


def chunked(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def case_by_pk(values: Mapping[int, object], field: str = "pk") -> Case:
    """A CASE giving each row (by `field`) its own value, for one UPDATE of many rows."""
    return Case(*(When(**{field: key}, then=Value(value)) for key, value in values.items()))


def uses_copy() -> bool:
    return connection.vendor == "postgresql"


def ids_reserve(model: type[models.Model], count: int) -> list[int]:
    """`count` primary keys from the table's own sequence, for rows COPY writes (PostgreSQL)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_sql(table: str, columns: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    return f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"


def rows_copy(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY rows into a table (PostgreSQL); database errors come out as Django's own."""
    written = 0
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(copy_sql(table, columns)) as copy,
    ):
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def models_write(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence], *, batch_size: int
) -> None:
    """Insert rows of a model: COPY on PostgreSQL, bulk_create elsewhere."""
    if not rows:
        return
    if uses_copy():
        columns = [model._meta.get_field(name).column for name in fields]
        rows_copy(model._meta.db_table, columns, rows)
    else:
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=batch_size
        )


def column_remap(
    model: type[models.Model],
    column: str,
    moves: Mapping[int, int],
    *,
    key: str | None = None,
    also: Mapping[str, object] | None = None,
) -> int:
    """For each (old, new) of `moves`, set `column` to new on the rows whose `key` column (by
    default `column` itself) is old, and the `also` columns to fixed values: one UPDATE over
    arrays on PostgreSQL, a CASE per few hundred ids elsewhere. Returns the rows changed."""
    if not moves:
        return 0
    key = key or column
    also = dict(also or {})
    if uses_copy():
        table = connection.ops.quote_name(model._meta.db_table)
        fixed = "".join(f", {name} = %s" for name in also)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {column} = m.new{fixed} "  # noqa: S608
                f"FROM unnest(%s::bigint[], %s::bigint[]) AS m(old, new) "
                f"WHERE {table}.{key} = m.old",
                [*also.values(), list(moves), list(moves.values())],
            )
            return cursor.rowcount
    changed = 0
    for chunk in chunked(list(moves.items()), CASE_CHUNK):
        changed += model.objects.filter(**{f"{key}__in": [old for old, _ in chunk]}).update(
            **{column: case_by_pk(dict(chunk), field=key)}, **also
        )
    return changed


def tables_analyze(models_: Iterable[type[models.Model]]) -> None:
    """Refresh the planner's statistics of tables a bulk load is growing (PostgreSQL).

    Autovacuum analyses a table only after it has grown by a fraction of itself and only
    between transactions; an import that fills empty tables batch by batch would otherwise be
    planned as if they still held a few rows (nested loops over a million orders).
    """
    if not uses_copy():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE " + ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models_)
        )
