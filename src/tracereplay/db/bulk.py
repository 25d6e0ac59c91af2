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
from sqlalchemy import JSON, Connection
from sqlalchemy.sql.dml import Insert

from tracereplay.db.types import UTCDateTime

Converter = Callable[[Any], Any]


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_datetime(value: datetime | None) -> str | None:
    # The format SQLAlchemy's SQLite DATETIME reads and writes, in naive UTC.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


class BulkStatement:
    def __init__(self, statement: Callable[[str], Insert], columns: Sequence[str]) -> None:
        """`statement` builds the INSERT for a dialect name (upserts differ by dialect)."""
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
        table = statement.table
        order = list(compiled.positiontup) if compiled.positiontup else self._columns
        converted: list[tuple[int, Converter]] = []
        for position, name in enumerate(order):
            column_type = table.c[name].type
            if isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
                converted.append((position, _json))
            elif isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
                converted.append((position, _sqlite_datetime))
        self._names[dialect.name] = order
        prepared = (compiled.string, operator.itemgetter(*order), converted)
        self._compiled[dialect.name] = prepared
        return prepared

    def execute(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        sql, getter, converted = self._prepare(conn)
        params: list[Any] = []
        for row in rows:
            values = list(getter(row))
            for position, convert in converted:
                values[position] = convert(values[position])
            params.append(tuple(values))
        if conn.dialect.paramstyle not in ("qmark", "numeric"):
            names = self._names[conn.dialect.name]
            params = [dict(zip(names, values, strict=True)) for values in params]
        conn.exec_driver_sql(sql, params)
