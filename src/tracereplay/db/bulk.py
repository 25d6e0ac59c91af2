"""Bulk statements for the ingestion hot path.

SQLAlchemy's per-row parameter processing costs more than the insert itself at thousands
of spans a second. A `BulkStatement` is compiled once per dialect and executed with rows
already converted to what the driver takes, using the same storage formats as the column
types in `db.types`, so rows written here read back through the ORM unchanged.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Connection, Dialect, Table
from sqlalchemy.sql.dml import Insert, Update

from tracereplay.db.types import UTCDateTime
from tracereplay.jsontext import json_dumps

Converter = Callable[[Any], Any]


def json_text(value: Any) -> str | None:
    return None if value is None else json_dumps(value)


def sqlite_datetime(value: datetime | None) -> str | None:
    # The format SQLAlchemy's SQLite DATETIME reads and writes: naive UTC, always microseconds.
    # Two per span on the ingestion hot path: the UTC case skips building another datetime.
    if value is None:
        return None
    if value.tzinfo is not UTC and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00" of an aware value


def column_is_json(column: Column[Any]) -> bool:
    column_type = column.type
    return isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON)


def storage_converters(table: Table, dialect: str) -> dict[str, Converter]:
    """Column name -> conversion to the value the driver stores, for columns that need one."""
    converters: dict[str, Converter] = {}
    for column in table.columns:
        column_type = column.type
        if column_is_json(column):
            converters[column.name] = json_text
        elif isinstance(column_type, UTCDateTime) and dialect == "sqlite":
            converters[column.name] = sqlite_datetime
    return converters


def _values_group_end(sql: str) -> tuple[int, int]:
    """Where the one-row `VALUES (…)` group of a compiled INSERT starts and ends (the ON
    CONFLICT clause follows it)."""
    start = sql.index(" VALUES (") + 1
    depth = 0
    for position in range(start + len("VALUES "), len(sql)):
        if sql[position] == "(":
            depth += 1
        elif sql[position] == ")":
            depth -= 1
            if depth == 0:
                return start, position + 1
    raise ValueError(f"no VALUES group in {sql!r}")


# Binary COPY types by the PostgreSQL type a column compiles to. JSON columns are staged as
# text (binary JSONB needs a version byte) and cast by the INSERT; binary COPY spares the
# client the text format's escaping of every value, the larger share of its work.
_COPY_TYPES = {
    "INTEGER": "int4", "BIGINT": "int8", "FLOAT": "float8", "DOUBLE PRECISION": "float8",
    "TEXT": "text", "JSONB": "text", "JSON": "text", "TIMESTAMP WITH TIME ZONE": "timestamptz",
}  # fmt: skip


def _copy_type(column: Column[Any], dialect: Dialect) -> str:
    compiled = column.type.compile(dialect=dialect)
    if compiled.startswith("VARCHAR"):
        return "text"  # the same binary form
    try:
        return _COPY_TYPES[compiled]
    except KeyError:
        raise TypeError(f"no binary COPY type for {column} ({compiled})") from None


def _copy_statements(
    table: Table, order: list[str], insert: str, returning: list[str], dialect: Dialect
) -> _CopyStatements:
    """COPY into a temporary stage table, then one INSERT … SELECT with the INSERT's own
    conflict clause (`insert` is the compiled one-row INSERT)."""
    stage = f"{table.name}_stage"
    columns = ", ".join(order)
    json = {name for name in order if column_is_json(table.c[name])}
    staged = ", ".join(f"{name}::text AS {name}" if name in json else name for name in order)
    loaded = ", ".join(f"{name}::{table.c[name].type.compile(dialect=dialect)}" if name in json else name
                       for name in order)  # fmt: skip
    _, end = _values_group_end(insert)
    return _CopyStatements(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {staged} FROM {table.name} WITH NO DATA",
        f"DELETE FROM {stage}",  # rows an earlier statement of this transaction staged
        f"COPY {stage} ({columns}) FROM STDIN (FORMAT BINARY)",
        [_copy_type(table.c[name], dialect) for name in order],
        f"INSERT INTO {table.name} ({columns}) SELECT {loaded} FROM {stage}{insert[end:]}"
        + (f" RETURNING {', '.join(returning)}" if returning else ""),
    )


@dataclass
class _CopyStatements:
    create: str
    empty: str
    copy: str
    types: list[str]
    insert: str


@dataclass
class BulkResult:
    rowcount: int  # rows inserted or updated
    returned: list[tuple[Any, ...]] | None  # the `returning` columns, where the database gave them


@dataclass
class _Compiled:
    sql: str
    getter: Callable[[Any], Any]
    converted: list[tuple[int, Converter]]
    names: list[str]
    copy: _CopyStatements | None  # PostgreSQL: create stage, empty it, COPY, INSERT … SELECT


class BulkStatement:
    """A statement compiled once per dialect and run for many rows at driver level.

    On PostgreSQL an INSERT goes through COPY into a temporary stage table and one
    INSERT … SELECT (same conflict handling), which costs the server a fraction of one
    statement per row; elsewhere rows go through `executemany`.
    """

    def __init__(
        self,
        statement: Callable[[str], Insert | Update],
        columns: Sequence[str],
        returning: Sequence[str] = (),
    ) -> None:
        """`statement` builds the INSERT/UPDATE for a dialect name (upserts differ by dialect).

        `columns` are the parameter names rows carry: table columns, or bind parameters.
        `returning` columns come back from PostgreSQL's INSERT (SQLite's `executemany` cannot
        return rows, so callers look them up there).
        """
        self._statement = statement
        self._columns = list(columns)
        self._returning = list(returning)
        self._compiled: dict[str, _Compiled] = {}

    def _prepare(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        prepared = self._compiled.get(dialect.name)
        if prepared is not None:
            return prepared
        statement = self._statement(dialect.name)
        compiled = statement.compile(dialect=dialect, column_keys=self._columns, for_executemany=True)
        table: Table = statement.table  # type: ignore[assignment]
        order = list(compiled.positiontup or self._columns)
        converters = storage_converters(table, dialect.name)
        copy = None
        if dialect.name == "postgresql" and isinstance(statement, Insert):
            copy = _copy_statements(table, order, compiled.string, self._returning, dialect)
        prepared = _Compiled(
            compiled.string,
            operator.itemgetter(*order),
            [(i, converters[name]) for i, name in enumerate(order) if name in converters],
            order,
            copy,
        )
        self._compiled[dialect.name] = prepared
        return prepared

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def returns_rows(self, conn: Connection) -> bool:
        """Whether `execute` gives back the `returning` columns on this connection's database."""
        return bool(self._returning) and self._prepare(conn).copy is not None

    def execute(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> BulkResult:
        """Run for `rows`: dicts holding at least the statement's columns, by name."""
        if not rows:
            return BulkResult(0, [] if self._returning else None)
        compiled = self._prepare(conn)
        params = []
        for row in rows:
            values = list(compiled.getter(row))
            for position, convert in compiled.converted:
                values[position] = convert(values[position])
            params.append(tuple(values))
        return self._run(conn, compiled, params)

    def execute_rows(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> BulkResult:
        """Run for `rows` already in stored form (`storage_converters`), each holding the values
        of `columns` in that order."""
        if not rows:
            return BulkResult(0, [] if self._returning else None)
        compiled = self._prepare(conn)
        if compiled.names != self._columns:
            raise TypeError(f"this statement takes its values in the order {compiled.names}")
        return self._run(conn, compiled, rows)

    def _run(self, conn: Connection, compiled: _Compiled, params: Sequence[Sequence[Any]]) -> BulkResult:
        if compiled.copy is not None:
            return self._copy(conn, compiled.copy, params)
        if conn.dialect.paramstyle not in ("qmark", "numeric"):
            named = [dict(zip(compiled.names, row, strict=True)) for row in params]
            result = conn.exec_driver_sql(compiled.sql, named)
        else:
            result = conn.exec_driver_sql(compiled.sql, [tuple(row) for row in params])
        return BulkResult(result.rowcount, None)

    def _copy(
        self, conn: Connection, statements: _CopyStatements, params: Sequence[Sequence[Any]]
    ) -> BulkResult:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(statements.create)
            cursor.execute(statements.empty)
            with cursor.copy(statements.copy) as loader:
                loader.set_types(statements.types)
                for row in params:
                    loader.write_row(row)
            cursor.execute(statements.insert)
            returned = [tuple(row) for row in cursor.fetchall()] if self._returning else None
            return BulkResult(cursor.rowcount, returned)
        finally:
            cursor.close()
