"""The job queue on PostgreSQL: Huey's SQL storage (peewee), one pooled connection per call.

Workers take tasks with `SELECT … FOR UPDATE SKIP LOCKED`, so no two take the same one; the
queue is polled (a consumer checks every 0.1 s when idle). Huey's storage would keep a
connection open in every thread that ever touched it (API request threads, consumer threads,
the scheduler); here each storage call borrows a pooled connection and gives it back, and
`close` closes them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from huey import Huey
from huey.contrib.sql_huey import SqlStorage
from playhouse.db_url import connect
from playhouse.pool import PooledDatabase

from tracereplay.errors import StartupError


class PooledSqlStorage(SqlStorage):  # type: ignore[misc]
    """Huey's `SqlStorage` with every storage call run inside a borrowed pooled connection.

    The signatures are those of Huey's `SqlStorage` (and `BaseStorage`, for `delete_data` and
    `flush_all`); each override only wraps the inherited call in `_connection()`.
    """

    def _connection(self) -> AbstractContextManager[None]:
        # Borrows a pooled connection and gives it back on exit; peewee keeps a stack of these
        # contexts, so nested calls (delete_data -> pop_data, flush_all -> flush_*) share the
        # outer connection and only the outermost exit returns it.
        context: AbstractContextManager[None] = self.database.connection_context()
        return context

    def close(self) -> None:
        database = self.database
        if isinstance(database, PooledDatabase):
            database.close_all()

    # The task queue.

    def enqueue(self, data: bytes, priority: float | None = None) -> Any:
        with self._connection():
            return super().enqueue(data, priority)

    def dequeue(self) -> Any:
        with self._connection():
            return super().dequeue()

    def queue_size(self) -> Any:
        with self._connection():
            return super().queue_size()

    def enqueued_items(self, limit: int | None = None) -> Any:
        with self._connection():
            return super().enqueued_items(limit)

    def flush_queue(self) -> Any:
        with self._connection():
            return super().flush_queue()

    # The schedule.

    def add_to_schedule(self, data: bytes, timestamp: datetime) -> Any:
        with self._connection():
            return super().add_to_schedule(data, timestamp)

    def read_schedule(self, timestamp: datetime) -> Any:
        with self._connection():
            return super().read_schedule(timestamp)

    def schedule_size(self) -> Any:
        with self._connection():
            return super().schedule_size()

    def scheduled_items(self, limit: int | None = None) -> Any:
        with self._connection():
            return super().scheduled_items(limit)

    def flush_schedule(self) -> Any:
        with self._connection():
            return super().flush_schedule()

    # The key/value store (results, revocations, locks).

    def put_data(self, key: str, value: bytes, is_result: bool = False) -> Any:
        with self._connection():
            return super().put_data(key, value, is_result)

    def peek_data(self, key: str) -> Any:
        with self._connection():
            return super().peek_data(key)

    def peek_many(self, keys: Sequence[str]) -> Any:
        with self._connection():
            return super().peek_many(keys)

    def pop_data(self, key: str) -> Any:
        with self._connection():
            return super().pop_data(key)

    def delete_data(self, key: str) -> Any:
        with self._connection():
            return super().delete_data(key)

    def has_data_for_key(self, key: str) -> Any:
        with self._connection():
            return super().has_data_for_key(key)

    def put_if_empty(self, key: str, value: bytes, ttl: int | None = None) -> Any:
        with self._connection():
            return super().put_if_empty(key, value, ttl)

    # Counters (chords, task groups).

    def incr(self, key: str, amount: int = 1) -> Any:
        with self._connection():
            return super().incr(key, amount)

    def delete_counter(self, key: str) -> Any:
        with self._connection():
            return super().delete_counter(key)

    # Introspection and flushing.

    def result_store_size(self) -> Any:
        with self._connection():
            return super().result_store_size()

    def result_items(self) -> Any:
        with self._connection():
            return super().result_items()

    def flush_results(self) -> Any:
        with self._connection():
            return super().flush_results()

    def flush_counters(self) -> Any:
        with self._connection():
            return super().flush_counters()

    def flush_all(self) -> Any:
        with self._connection():
            return super().flush_all()


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
