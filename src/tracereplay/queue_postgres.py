"""The job queue on PostgreSQL: Huey's SQL storage (peewee), one pooled connection per call.

Workers take tasks with `SELECT … FOR UPDATE SKIP LOCKED`, so no two take the same one; the
queue is polled (a consumer checks every 0.1 s when idle). Huey's storage would keep a
connection open in every thread that ever touched it (API request threads, consumer threads,
the scheduler); here each storage call borrows a pooled connection and gives it back, and
`close` closes them all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from huey import Huey
from huey.contrib.sql_huey import SqlStorage
from playhouse.db_url import connect
from playhouse.pool import PooledDatabase

from tracereplay.errors import StartupError

_STORAGE_CALLS = (
    "enqueue", "dequeue", "queue_size", "enqueued_items", "flush_queue", "add_to_schedule",
    "read_schedule", "schedule_size", "scheduled_items", "flush_schedule", "put_data",
    "peek_data", "peek_many", "pop_data", "delete_data", "has_data_for_key", "put_if_empty",
    "incr", "delete_counter", "result_store_size", "result_items", "flush_results",
    "flush_counters", "flush_all",
)  # fmt: skip


def _with_connection(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def borrowing(self: SqlStorage, *args: Any, **kwargs: Any) -> Any:
        with self.database.connection_context():  # nested calls share the outer connection
            return call(self, *args, **kwargs)

    return borrowing


class PooledSqlStorage(SqlStorage):  # type: ignore[misc]
    def close(self) -> None:
        database = self.database
        if isinstance(database, PooledDatabase):
            database.close_all()


for _name in _STORAGE_CALLS:
    if hasattr(SqlStorage, _name):
        setattr(PooledSqlStorage, _name, _with_connection(getattr(SqlStorage, _name)))


def postgres_huey(name: str, url: str) -> Huey:
    """A Huey on the PostgreSQL database at `url` (it creates its tables there: kv, schedule,
    task, counter)."""
    address = "postgresql+pool://" + url.split("://", 1)[1]
    try:
        # More than the threads that may hold one at once (API and consumer threads); a full pool
        # makes a caller wait, not fail.
        database = connect(address, max_connections=64, stale_timeout=300, timeout=30)
        return Huey(name, storage_class=PooledSqlStorage, database=database, utc=True)
    except Exception as exc:  # the driver's own error types: creating the tables connects
        raise StartupError(
            f"could not open the job queue at TRACEREPLAY_QUEUE_URL: {type(exc).__name__}: {exc}. "
            "Check that the database is reachable and that this user may create tables."
        ) from exc
