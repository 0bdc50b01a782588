"""Bulk writes for the import path: COPY on PostgreSQL, bulk_create on the embedded SQLite.

COPY skips the ORM's per-value preparation and the INSERT parser, which is most of the cost of
writing a million rows. Rows go in as tuples in the order of `fields`; values are what psycopg
adapts (str, int, date, aware datetime, None), so the caller writes JSON fields as JSON text.
"""

from collections.abc import Iterable, Sequence

from django.db import connection, models


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
