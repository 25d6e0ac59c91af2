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

import orjson
from sqlalchemy import JSON, Connection, Table
from sqlalchemy.sql.dml import Insert, Update

from tracereplay.db.types import UTCDateTime

Converter = Callable[[Any], Any]


def json_dumps(value: Any) -> str:
    """JSON as stored, by the engine's JSON columns and by bulk statements alike."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_text(value: Any) -> str | None:
    return None if value is None else json_dumps(value)


def sqlite_datetime(value: datetime | None) -> str | None:
    # The format SQLAlchemy's SQLite DATETIME reads and writes: naive UTC, always microseconds.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


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
    copy: tuple[str, ...] | None  # PostgreSQL: create stage, empty it, COPY, INSERT … SELECT


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
            stage = f"{table.name}_stage"
            columns = ", ".join(order)
            _, end = _values_group_end(compiled.string)
            copy = (
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                f"SELECT {columns} FROM {table.name} WITH NO DATA",
                f"DELETE FROM {stage}",  # rows an earlier statement of this transaction staged
                f"COPY {stage} ({columns}) FROM STDIN",
                f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {stage}{compiled.string[end:]}"
                + (f" RETURNING {', '.join(self._returning)}" if self._returning else ""),
            )
        prepared = _Compiled(
            compiled.string,
            operator.itemgetter(*order),
            [(i, converters[name]) for i, name in enumerate(order) if name in converters],
            order,
            copy,
        )
        self._compiled[dialect.name] = prepared
        return prepared

    def returns_rows(self, conn: Connection) -> bool:
        """Whether `execute` gives back the `returning` columns on this connection's database."""
        return bool(self._returning) and self._prepare(conn).copy is not None

    def execute(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> BulkResult:
        """Run for `rows` (dicts holding at least the statement's columns, by name)."""
        if not rows:
            return BulkResult(0, [] if self._returning else None)
        compiled = self._prepare(conn)
        params: list[Any] = []
        for row in rows:
            values = list(compiled.getter(row))
            for position, convert in compiled.converted:
                values[position] = convert(values[position])
            params.append(tuple(values))
        if compiled.copy is not None:
            return self._copy(conn, compiled.copy, params)
        if conn.dialect.paramstyle not in ("qmark", "numeric"):
            names = compiled.names
            params = [dict(zip(names, row, strict=True)) for row in params]
        result = conn.exec_driver_sql(compiled.sql, params)
        return BulkResult(result.rowcount, None)

    def _copy(self, conn: Connection, statements: tuple[str, ...], params: list[Any]) -> BulkResult:
        create, empty, copy, insert = statements
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(create)
            cursor.execute(empty)
            with cursor.copy(copy) as loader:
                for row in params:
                    loader.write_row(row)
            cursor.execute(insert)
            returned = [tuple(row) for row in cursor.fetchall()] if self._returning else None
            return BulkResult(cursor.rowcount, returned)
        finally:
            cursor.close()
