"""One INSERT … ON CONFLICT helper for both dialects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def upsert(
    dialect: str,
    table: Table,
    conflict: Iterable[str],
    update: Iterable[str] = (),
    keep_existing: Iterable[str] = (),
) -> Insert:
    """INSERT that updates `update` columns on conflict, or does nothing when `update` is empty.

    Columns in `keep_existing` take the new value only when it is not NULL, so a partial
    re-send never erases what an earlier one stored.
    """
    statement: sqlite.Insert | postgresql.Insert
    statement = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    conflict = list(conflict)
    values: Mapping[str, object] = {
        **{name: statement.excluded[name] for name in update},
        **{name: func.coalesce(statement.excluded[name], table.c[name]) for name in keep_existing},
    }
    if not values:
        return statement.on_conflict_do_nothing(index_elements=conflict)
    return statement.on_conflict_do_update(index_elements=conflict, set_=dict(values))
