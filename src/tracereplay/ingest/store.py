"""Durable writes of span records and log records, inside one caller-owned transaction.

Only the ingestion writer calls these (through `ingest.service`); this is the one place where
span records become rows.

Spans are upserted by (trace, span id) so a re-sent span updates instead of duplicating;
trace roll-ups are recomputed from the stored spans, so spans may arrive in any order and
over any number of requests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, Update, bindparam, case, func, select, update

from tracereplay.db.bulk import BulkStatement, Converter, storage_converters
from tracereplay.db.models import LogRecord, Span, Trace, TraceTag
from tracereplay.db.types import UTCDateTime, milliseconds_between
from tracereplay.db.upsert import upsert
from tracereplay.ingest.conventions import normalise
from tracereplay.ingest.otlp import normalised_values
from tracereplay.ingest.records import JSON_FIELDS, IncomingLog, SpanRecord

SPANS: Table = Span.__table__  # type: ignore[assignment]
TRACES: Table = Trace.__table__  # type: ignore[assignment]
TAGS: Table = TraceTag.__table__  # type: ignore[assignment]
LOGS: Table = LogRecord.__table__  # type: ignore[assignment]

SPAN_COLUMNS = [c.name for c in SPANS.columns if c.name not in {"id", "trace_rowid", "span_id"}]
TRACE_HINT_COLUMNS = ["session_id", "user_id", "environment", "metadata", "source_trace_id", "replay_id"]
ROOT_COLUMNS = ["name", "input", "output"]
SPAN_UPSERT = BulkStatement(
    lambda dialect: upsert(dialect, SPANS, ["trace_rowid", "span_id"], update=SPAN_COLUMNS),
    ["trace_rowid", "span_id", *SPAN_COLUMNS],
)
TRACE_COLUMNS = [
    "project_rowid", "trace_id", "name", "input", "output", "session_id", "user_id", "environment",
    "metadata", "source_trace_id", "replay_id", "span_count", "llm_span_count", "error_count",
    "created_at", "updated_at",
]  # fmt: skip
TRACE_UPSERT = BulkStatement(
    lambda dialect: upsert(
        dialect,
        TRACES,
        ["project_rowid", "trace_id"],
        update=["updated_at"],
        keep_existing=TRACE_HINT_COLUMNS + ROOT_COLUMNS,
    ),
    TRACE_COLUMNS,
)
BATCH_ROLLUP_COLUMNS = [
    "start_time", "end_time", "duration_ms", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
]  # fmt: skip
# A trace first seen in this batch is inserted complete: its roll-ups come from the batch.
NEW_TRACE_INSERT = BulkStatement(
    lambda dialect: upsert(dialect, TRACES, ["project_rowid", "trace_id"]),
    [*TRACE_COLUMNS, *BATCH_ROLLUP_COLUMNS],
    returning=["trace_id", "id"],
)
CHUNK = 2000  # ids per IN (...) list; well under every driver's parameter limit


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _add(total: Any, value: Any) -> Any:
    # SQL SUM semantics: NULL until some value is known.
    if value is None:
        return total
    return value if total is None else total + value


def _trace_rows(project_rowid: int, spans: Iterable[SpanRecord]) -> list[dict[str, Any]]:
    """One row per trace: what this batch says of it (root name, session, …) and the
    roll-ups of this batch's spans, which are the trace's own when the trace is new."""
    now = datetime.now(UTC)
    traces: dict[str, dict[str, Any]] = {}
    for span in spans:
        row = traces.get(span.trace_id)
        if row is None:
            row = traces[span.trace_id] = {
                "project_rowid": project_rowid,
                "trace_id": span.trace_id,
                "name": None,
                "input": None,
                "output": None,
                "session_id": None,
                "user_id": None,
                "environment": None,
                "metadata": None,
                "source_trace_id": None,
                "replay_id": None,
                "span_count": 0,
                "llm_span_count": 0,
                "error_count": 0,
                "start_time": span.start_time,
                "end_time": span.end_time,
                "prompt_tokens": None,
                "completion_tokens": None,
                "total_tokens": None,
                "cost": None,
                "created_at": now,
                "updated_at": now,
            }
        row["span_count"] += 1
        row["llm_span_count"] += span.kind == "LLM"
        row["error_count"] += span.status_code == "ERROR"
        row["start_time"] = min(row["start_time"], span.start_time)
        row["end_time"] = max(row["end_time"], span.end_time)
        row["prompt_tokens"] = _add(row["prompt_tokens"], span.prompt_tokens)
        row["completion_tokens"] = _add(row["completion_tokens"], span.completion_tokens)
        row["total_tokens"] = _add(row["total_tokens"], span.total_tokens)
        row["cost"] = _add(row["cost"], span.cost)
        hints = span.trace
        if hints is not None:
            for key in HINTED:
                if row[key] is None:
                    row[key] = getattr(hints, key)
            if hints.metadata:
                row["metadata"] = {**(row["metadata"] or {}), **hints.metadata}
        if span.is_root:
            row["name"] = span.name
            row["input"] = span.input
            row["output"] = span.output
    for row in traces.values():
        row["duration_ms"] = (row["end_time"] - row["start_time"]).total_seconds() * 1000.0
    # A fixed order: concurrent writers then lock the same rows in the same order (no deadlock).
    return [traces[trace_id] for trace_id in sorted(traces)]


HINTED = ("session_id", "user_id", "environment", "source_trace_id", "replay_id")


# Built once: these run for every write, and building a statement costs more than running it.
TRACE_ROWIDS = select(TRACES.c.trace_id, TRACES.c.id).where(
    TRACES.c.project_rowid == bindparam("project"), TRACES.c.trace_id.in_(bindparam("ids", expanding=True))
)
LOGS_OF_TRACES = (
    select(LOGS.c.trace_id, LOGS.c.span_id, LOGS.c.event_name, LOGS.c.time, LOGS.c.body, LOGS.c.attributes)
    .where(
        LOGS.c.project_rowid == bindparam("project"), LOGS.c.trace_id.in_(bindparam("ids", expanding=True))
    )
    .order_by(LOGS.c.time, LOGS.c.id)
)
PROJECT_HAS_LOGS = select(LOGS.c.id).where(LOGS.c.project_rowid == bindparam("project")).limit(1)


def _trace_rowids(conn: Connection, project_rowid: int, trace_ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(trace_ids):
        rows = conn.execute(TRACE_ROWIDS, {"project": project_rowid, "ids": list(chunk)})
        found.update((trace_id, rowid) for trace_id, rowid in rows)
    return found


def _logs_by_span(
    conn: Connection, project_rowid: int, trace_ids: Sequence[str]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Joined log records of these traces, as convention events, in emission order."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    # Most projects send no log records: one indexed probe spares them the IN (…) lookups.
    if conn.execute(PROJECT_HAS_LOGS, {"project": project_rowid}).first() is None:
        return found
    for chunk in _chunks(trace_ids):
        rows = conn.execute(LOGS_OF_TRACES, {"project": project_rowid, "ids": list(chunk)})
        for trace_id, span_id, name, time, body, attributes in rows:
            found[(trace_id, span_id)].append(
                {
                    "name": name,
                    "time": time.isoformat() if time else None,
                    "attributes": attributes or {},
                    "body": body,
                }
            )
    return found


def _joined_values(attributes: Any, events: Any, logs: list[dict[str, Any]]) -> dict[str, Any]:
    """What a span's joined log records (GenAI message events) add to its normalised fields.

    Fields the stored span already has from its attributes and the records do not
    restate are left out, so they are kept.
    """
    values = normalised_values(normalise(attributes, [*(events or ()), *logs]))
    return {name: value for name, value in values.items() if value is not None}


@lru_cache
def _converters(dialect: str, json_as_text: bool) -> list[tuple[str, Converter]]:
    """Conversions of span values to their stored form; JSON text needs none."""
    converters = storage_converters(SPANS, dialect)
    return [
        (name, convert) for name, convert in converters.items() if not (json_as_text and name in JSON_FIELDS)
    ]


def _span_row(
    span: SpanRecord,
    trace_rowid: int,
    converters: list[tuple[str, Converter]],
    text_converters: list[tuple[str, Converter]],
) -> dict[str, Any]:
    """A span's row, its values in stored form (`converters` for a record's own values,
    `text_converters` for one received with its JSON as text)."""
    row = dict(vars(span))  # the record's fields are the span columns, by name
    text = span.json_text()
    if text is not None:  # sent as JSON text by a decoding helper: stored as it is
        row.update(zip(JSON_FIELDS, text, strict=True))
        converters = text_converters
    for name, convert in converters:
        row[name] = convert(row[name])
    row["trace_rowid"] = trace_rowid
    row["duration_ms"] = (span.end_time - span.start_time).total_seconds() * 1000.0
    return row


def _rollup_statement() -> Update:
    s = SPANS.c
    totals = (
        select(
            s.trace_rowid.label("trace_rowid"),
            func.min(s.start_time).label("start_time"),
            func.max(s.end_time).label("end_time"),
            func.count().label("span_count"),
            func.sum(case((s.kind == "LLM", 1), else_=0)).label("llm_span_count"),
            func.sum(case((s.status_code == "ERROR", 1), else_=0)).label("error_count"),
            func.sum(s.prompt_tokens).label("prompt_tokens"),
            func.sum(s.completion_tokens).label("completion_tokens"),
            func.sum(s.total_tokens).label("total_tokens"),
            func.sum(s.cost).label("cost"),
        )
        .where(s.trace_rowid.in_(bindparam("ids", expanding=True)))
        .group_by(s.trace_rowid)
        .subquery("totals")
    )
    t = totals.c
    return (
        update(TRACES)
        .where(TRACES.c.id == t.trace_rowid)
        .values(
            start_time=t.start_time,
            end_time=t.end_time,
            duration_ms=milliseconds_between(t.start_time, t.end_time),
            span_count=t.span_count,
            llm_span_count=t.llm_span_count,
            error_count=t.error_count,
            prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens,
            total_tokens=t.total_tokens,
            cost=t.cost,
            updated_at=bindparam("now", type_=UTCDateTime),
        )
    )


ROLLUP = _rollup_statement()


def refresh_rollups(conn: Connection, trace_rowids: Iterable[int]) -> None:
    """Recompute each trace's time span, counts, tokens and cost from its stored spans.

    One UPDATE … FROM (aggregate) per chunk: the database does the work, not Python.
    """
    now = datetime.now(UTC)
    for chunk in _chunks(sorted(set(trace_rowids))):
        conn.execute(ROLLUP, {"ids": list(chunk), "now": now})


def _insert_new_traces(
    conn: Connection, project_rowid: int, rows: list[dict[str, Any]]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Insert traces not stored yet; returns their row ids, and the rows another writer
    inserted first (those need the existing-trace path)."""
    result = NEW_TRACE_INSERT.execute(conn, rows)
    if result.returned is not None:
        inserted = {trace_id: rowid for trace_id, rowid in result.returned}
        return inserted, [row for row in rows if row["trace_id"] not in inserted]
    rowids = _trace_rowids(conn, project_rowid, [row["trace_id"] for row in rows])
    if result.rowcount == len(rows):
        return rowids, []
    return {}, rows  # some were inserted concurrently and we cannot tell which: recompute all


def write_spans(conn: Connection, project_rowid: int, spans: Sequence[SpanRecord]) -> int:
    """Store spans of one project; returns how many were stored (re-sends count once)."""
    if not spans:
        return 0
    dialect = conn.dialect.name
    # Postgres refuses to upsert one key twice in a statement: the last copy wins.
    unique: dict[tuple[str, str], SpanRecord] = {}
    for span in spans:
        unique[(span.trace_id, span.span_id)] = span
    spans = [unique[key] for key in sorted(unique)]  # fixed lock order, as for traces

    trace_ids = sorted({span.trace_id for span in spans})
    logs = _logs_by_span(conn, project_rowid, trace_ids)
    if logs:
        for span in spans:
            joined = logs.get((span.trace_id, span.span_id))
            if joined:
                for name, value in _joined_values(span.attributes, span.events, joined).items():
                    setattr(span, name, value)

    trace_rows = _trace_rows(project_rowid, spans)
    if NEW_TRACE_INSERT.returns_rows(conn):
        # Insert-or-skip every trace and learn which were new in one statement.
        rowids, known = _insert_new_traces(conn, project_rowid, trace_rows)
    else:
        rowids = _trace_rowids(conn, project_rowid, trace_ids)
        known = [row for row in trace_rows if row["trace_id"] in rowids]
        new = [row for row in trace_rows if row["trace_id"] not in rowids]
        if new:
            inserted, raced = _insert_new_traces(conn, project_rowid, new)
            rowids.update(inserted)
            known += raced
    if known:
        TRACE_UPSERT.execute(conn, known)
        missing = [row["trace_id"] for row in known if row["trace_id"] not in rowids]
        if missing:
            rowids.update(_trace_rowids(conn, project_rowid, missing))

    rows = []
    tags: set[tuple[int, str]] = set()
    converters, text_converters = _converters(dialect, False), _converters(dialect, True)
    for span in spans:
        trace_rowid = rowids[span.trace_id]
        if span.trace is not None:
            for tag in span.trace.tags:
                tags.add((trace_rowid, tag))
        rows.append(_span_row(span, trace_rowid, converters, text_converters))
    SPAN_UPSERT.execute(conn, rows, stored=True)
    if tags:
        conn.execute(
            upsert(dialect, TAGS, ["trace_rowid", "tag"]),
            [{"trace_rowid": rowid, "tag": tag} for rowid, tag in sorted(tags)],
        )
    # Traces stored before this batch: their roll-ups must include the spans already there.
    refresh_rollups(conn, (rowids[row["trace_id"]] for row in known))
    return len(rows)


def write_logs(conn: Connection, project_rowid: int, logs: Sequence[IncomingLog]) -> int:
    """Store log records and re-read the spans they belong to, if those are stored already."""
    if not logs:
        return 0
    dialect = conn.dialect.name
    unique = {log.record_hash: log for log in sorted(logs, key=lambda log: log.record_hash)}
    conn.execute(
        upsert(dialect, LOGS, ["project_rowid", "record_hash"]),
        [
            {
                "project_rowid": project_rowid,
                "trace_id": log.trace_id,
                "span_id": log.span_id,
                "record_hash": log.record_hash,
                "event_name": log.event_name,
                "time": log.time,
                "body": log.body,
                "attributes": log.attributes,
            }
            for log in unique.values()
        ],
    )
    wanted = {(log.trace_id, log.span_id) for log in unique.values()}
    trace_ids = sorted({trace_id for trace_id, _ in wanted})
    rowids = _trace_rowids(conn, project_rowid, trace_ids)
    if not rowids:
        return len(unique)  # the spans come later and pick these records up then
    joined = _logs_by_span(conn, project_rowid, trace_ids)
    trace_of_rowid = {rowid: trace_id for trace_id, rowid in rowids.items()}
    touched: set[int] = set()
    for chunk in _chunks(list(rowids.values())):
        query = select(SPANS.c.id, SPANS.c.trace_rowid, SPANS.c.span_id, SPANS.c.attributes,
                       SPANS.c.events).where(SPANS.c.trace_rowid.in_(chunk))  # fmt: skip
        for span_rowid, trace_rowid, span_id, attributes, events in conn.execute(query).all():
            key = (trace_of_rowid[trace_rowid], span_id)
            if key not in wanted:
                continue
            values = _joined_values(attributes, events, joined[key])
            if not values:
                continue
            conn.execute(update(SPANS).where(SPANS.c.id == span_rowid).values(values))
            touched.add(trace_rowid)
    refresh_rollups(conn, touched)
    return len(unique)
