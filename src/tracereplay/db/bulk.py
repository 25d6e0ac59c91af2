"""Bulk statements for the ingestion hot path.

SQLAlchemy's per-row parameter processing costs more than the insert itself at thousands
of spans a second. A `BulkStatement` is compiled once per dialect and executed with rows
already converted to what the driver takes, using the same storage formats as the column
types in `db.types`, so rows written here read back through the ORM unchanged.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table
from sqlalchemy.sql.dml import Insert, Update

from tracereplay.db.types import UTCDateTime

Converter = Callable[[Any], Any]


def json_text(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def sqlite_datetime(value: datetime | None) -> str | None:
    # The format SQLAlchemy's SQLite DATETIME reads and writes, in naive UTC.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def storage_converters(table: Table, dialect: str) -> dict[str, Converter]:
    """Column name -> conversion to the value the driver stores, for columns that need one."""
    converters: dict[str, Converter] = {}
    for column in table.columns:
        column_type = column.type
        if isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
            converters[column.name] = json_text
        elif isinstance(column_type, UTCDateTime) and dialect == "sqlite":
            converters[column.name] = sqlite_datetime
    return converters


def prepare_row(row: dict[str, Any], converters: dict[str, Converter]) -> None:
    """Convert a row's values in place to their stored form (see `BulkStatement.execute`)."""
    for name, convert in converters.items():
        if name in row:
            row[name] = convert(row[name])


class BulkStatement:
    def __init__(self, statement: Callable[[str], Insert | Update], columns: Sequence[str]) -> None:
        """`statement` builds the INSERT/UPDATE for a dialect name (upserts differ by dialect).

        `columns` are the parameter names rows carry: table columns, or bind parameters.
        """
        self._statement = statement
        self._columns = list(columns)
        self._compiled: dict[str, tuple[str, Callable[[Any], Any], list[tuple[int, Converter]]]] = {}
        self._names: dict[str, list[str]] = {}

    def _prepare(self, conn: Connection) -> tuple[str, Callable[[Any], Any], list[tuple[int, Converter]]]:
        dialect = conn.dialect
        prepared = self._compiled.get(dialect.name)
        if prepared is not None:
            return prepared
        statement = self._statement(dialect.name)
        compiled = statement.compile(dialect=dialect, column_keys=self._columns)
        table: Table = statement.table  # type: ignore[assignment]
        order = list(compiled.positiontup) if compiled.positiontup else self._columns
        converters = storage_converters(table, dialect.name)
        converted = [(i, converters[name]) for i, name in enumerate(order) if name in converters]
        self._names[dialect.name] = order
        prepared = (compiled.string, operator.itemgetter(*order), converted)
        self._compiled[dialect.name] = prepared
        return prepared

    def execute(self, conn: Connection, rows: Sequence[dict[str, Any]], *, prepared: bool = False) -> None:
        """Run for `rows`; with `prepared`, their values are already in stored form (`prepare_row`)."""
        if not rows:
            return
        sql, getter, converted = self._prepare(conn)
        params: list[Any]
        if prepared:
            params = [getter(row) for row in rows]
        else:
            params = []
            for row in rows:
                values = list(getter(row))
                for position, convert in converted:
                    values[position] = convert(values[position])
                params.append(tuple(values))
        if conn.dialect.paramstyle not in ("qmark", "numeric"):
            names = self._names[conn.dialect.name]
            params = [dict(zip(names, values, strict=True)) for values in params]
        conn.exec_driver_sql(sql, params)
