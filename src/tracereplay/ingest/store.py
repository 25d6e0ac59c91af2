"""Durable writes of span records and log records, inside one caller-owned transaction.

Only the ingestion writer calls the writes (through `ingest.service`); this is the one place
where span records become rows. `prepare_spans` turns records into `PreparedSpans`: rows in
stored form and the roll-ups of their traces, built where the records are (a decoding helper
process, or the writer thread), so the writer is left with what needs the database: trace row
ids, prices, log records to join, and the statements.

Spans are upserted by (trace, span id) so a re-sent span updates instead of duplicating;
trace roll-ups are recomputed from the stored spans, so spans may arrive in any order and
over any number of requests.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, Table, Update, bindparam, case, func, select, update

from tracereplay.db.bulk import BulkStatement, Converter, storage_converters
from tracereplay.db.models import LogRecord, Span, Trace, TraceTag
from tracereplay.db.types import UTCDateTime, milliseconds_between
from tracereplay.db.upsert import upsert
from tracereplay.ingest.conventions import normalise
from tracereplay.ingest.otlp import normalised_values
from tracereplay.ingest.records import IncomingLog, SpanRecord
from tracereplay.ingest.same_call import CallSpan, marks

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


def _new_trace(span: SpanRecord) -> dict[str, Any]:
    return {
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
    }


def _count_span(row: dict[str, Any], span: SpanRecord) -> None:
    """Add one span to what a batch says of its trace."""
    row["span_count"] += 1
    row["error_count"] += span.status_code == "ERROR"
    row["start_time"] = min(row["start_time"], span.start_time)
    row["end_time"] = max(row["end_time"], span.end_time)
    if span.same_call_as is None:  # a call two spans record counts once
        row["llm_span_count"] += span.kind == "LLM"
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


def _merge_trace(row: dict[str, Any], other: dict[str, Any]) -> None:
    """What two batches say of one trace, together (`other` came later)."""
    for key in ("span_count", "llm_span_count", "error_count"):
        row[key] += other[key]
    row["start_time"] = min(row["start_time"], other["start_time"])
    row["end_time"] = max(row["end_time"], other["end_time"])
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
        row[key] = _add(row[key], other[key])
    for key in HINTED:
        if row[key] is None:
            row[key] = other[key]
    if other["metadata"]:
        row["metadata"] = {**(row["metadata"] or {}), **other["metadata"]}
    if other["name"] is not None:  # the batch that held the root span
        row["name"], row["input"], row["output"] = other["name"], other["input"], other["output"]


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


SPAN_ROW = SPAN_UPSERT.columns  # a prepared span row: these values, in this order, stored form
_POSITION = {name: position for position, name in enumerate(SPAN_ROW)}
TRACE_ROWID, COST = _POSITION["trace_rowid"], _POSITION["cost"]
KIND, PARENT, MODEL = _POSITION["kind"], _POSITION["parent_span_id"], _POSITION["model"]
SAME_CALL, RECORDED_BY, STATUS = _POSITION["same_call_as"], _POSITION["recorded_by"], _POSITION["status_code"]
START, END = _POSITION["start_time"], _POSITION["end_time"]
PROMPT_TOKENS, COMPLETION_TOKENS = _POSITION["prompt_tokens"], _POSITION["completion_tokens"]
_SPAN_VALUES = operator.attrgetter(*SPAN_ROW[1:])  # all but the trace row id, from a record


@lru_cache
def _converters(dialect: str) -> list[tuple[int, Converter]]:
    """Conversions of a span row's values to their stored form, by position."""
    converters = storage_converters(SPANS, dialect)
    return [(_POSITION[name], convert) for name, convert in converters.items()]


@dataclass
class PreparedSpans:
    """Span records of one project made rows for `dialect`: what the writer still adds is
    each row's trace row id (`TRACE_ROWID`, None here) and the cost of the LLM spans not priced
    yet (`price`). Small and flat, so it crosses from a helper process cheaply."""

    dialect: str
    keys: list[tuple[str, str]]  # (trace id, span id) of each row, sorted, unique
    rows: list[list[Any]]
    # LLM spans without a cost: (row, provider, model, prompt tokens, completion tokens)
    unpriced: list[tuple[int, str | None, str | None, int | None, int | None]]
    traces: dict[str, dict[str, Any]]  # trace id -> what these spans say of it (`_count_span`)
    tags: set[tuple[str, str]]

    def __len__(self) -> int:
        return len(self.rows)

    def price(self, cost: Callable[[str | None, str | None, int | None, int | None], float | None]) -> None:
        """Price the LLM spans that came without a cost; their traces' cost follows."""
        for position, provider, model, prompt_tokens, completion_tokens in self.unpriced:
            value = cost(provider, model, prompt_tokens, completion_tokens)
            if value is not None:
                row = self.rows[position]
                row[COST] = value
                if row[SAME_CALL] is None:  # a call two spans record costs once
                    trace = self.traces[self.keys[position][0]]
                    trace["cost"] = _add(trace["cost"], value)
        self.unpriced = []


def prepare_spans(spans: Sequence[SpanRecord], dialect: str) -> PreparedSpans:
    """Records as rows in stored form, with their traces' roll-ups; a span sent twice counts
    once (the last copy)."""
    unique: dict[tuple[str, str], SpanRecord] = {}
    for span in spans:
        unique[(span.trace_id, span.span_id)] = span
    keys = sorted(unique)  # a fixed lock order, as for traces
    converters = _converters(dialect)
    rows: list[list[Any]] = []
    unpriced = []
    traces: dict[str, dict[str, Any]] = {}
    tags: set[tuple[str, str]] = set()
    for position, key in enumerate(keys):
        span = unique[key]
        row = [None, *_SPAN_VALUES(span)]
        for index, convert in converters:
            row[index] = convert(row[index])
        rows.append(row)
        if span.kind == "LLM" and span.cost is None:
            unpriced.append((position, span.provider, span.model, span.prompt_tokens, span.completion_tokens))
        trace = traces.get(span.trace_id)
        if trace is None:
            trace = traces[span.trace_id] = _new_trace(span)
        _count_span(trace, span)
        if span.trace is not None:
            tags.update((span.trace_id, tag) for tag in span.trace.tags)
    return PreparedSpans(dialect, keys, rows, unpriced, traces, tags)


def _combined(batches: Sequence[PreparedSpans]) -> tuple[PreparedSpans, set[str]]:
    """Several batches as one, and the traces a span sent in two of them belongs to (their
    batch roll-ups count it twice: they are recomputed from the stored spans). A trace's hints
    and tags are the first seen, in arrival order, as across requests (`TRACE_UPSERT` keeps
    the stored ones)."""
    if len(batches) == 1:
        return batches[0], set()
    by_key: dict[tuple[str, str], list[Any]] = {}
    traces: dict[str, dict[str, Any]] = {}
    recount: set[str] = set()
    for batch in batches:
        for key, row in zip(batch.keys, batch.rows, strict=True):
            if key in by_key:
                recount.add(key[0])
            by_key[key] = row
        for trace_id, trace in batch.traces.items():
            if trace_id in traces:
                _merge_trace(traces[trace_id], trace)
            else:
                traces[trace_id] = dict(trace)
    keys = sorted(by_key)
    rows = [by_key[key] for key in keys]
    tags = set().union(*(batch.tags for batch in batches))
    return PreparedSpans(batches[0].dialect, keys, rows, [], traces, tags), recount


def _join_logs(conn: Connection, project_rowid: int, batch: PreparedSpans) -> set[str]:
    """Content of stored log records (GenAI message events) joined onto the rows of their
    spans; returns the traces whose roll-ups must be recomputed."""
    logs = _logs_by_span(conn, project_rowid, sorted(batch.traces))
    if not logs:
        return set()
    converters = dict(_converters(batch.dialect))
    attributes, events = _POSITION["attributes"], _POSITION["events"]
    touched = set()
    for key, row in zip(batch.keys, batch.rows, strict=True):
        joined = logs.get(key)
        if not joined:
            continue
        span_attributes, span_events = (
            None if row[at] is None else orjson.loads(row[at]) for at in (attributes, events)
        )
        for name, value in _joined_values(span_attributes, span_events, joined).items():
            position = _POSITION[name]
            convert = converters.get(position)
            row[position] = value if convert is None else convert(value)
        touched.add(key[0])
    return touched


def _rollup_statement() -> Update:
    s = SPANS.c
    once = s.same_call_as.is_(None)  # a call two spans record is counted through one of them

    def counted(column: Any) -> Any:
        return func.sum(case((once, column), else_=None))

    totals = (
        select(
            s.trace_rowid.label("trace_rowid"),
            func.min(s.start_time).label("start_time"),
            func.max(s.end_time).label("end_time"),
            func.count().label("span_count"),
            func.sum(case(((s.kind == "LLM") & once, 1), else_=0)).label("llm_span_count"),
            func.sum(case((s.status_code == "ERROR", 1), else_=0)).label("error_count"),
            counted(s.prompt_tokens).label("prompt_tokens"),
            counted(s.completion_tokens).label("completion_tokens"),
            counted(s.total_tokens).label("total_tokens"),
            counted(s.cost).label("cost"),
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


def write_spans(conn: Connection, project_rowid: int, batches: Sequence[PreparedSpans]) -> int:
    """Store prepared spans of one project; returns how many were stored (re-sends count once)."""
    batches = [batch for batch in batches if batch.rows]
    if not batches:
        return 0
    batch, recount = _combined(batches)
    # Roll-ups were counted before the join: the joined traces' are recomputed from their rows
    # (a join fills messages; a trace's name, input and output come from attributes it keeps).
    recount |= _join_logs(conn, project_rowid, batch)

    now = datetime.now(UTC)
    trace_ids = sorted(batch.traces)
    # A fixed order: concurrent writers then lock the same rows in the same order (no deadlock).
    trace_rows = []
    for trace_id in trace_ids:
        trace = batch.traces[trace_id]
        duration = (trace["end_time"] - trace["start_time"]).total_seconds() * 1000.0
        trace_rows.append({**trace, "project_rowid": project_rowid, "duration_ms": duration,
                           "created_at": now, "updated_at": now})  # fmt: skip
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

    stored_before = {row["trace_id"] for row in known}
    recount |= _same_calls_in_batch(batch, stored_before)
    for (trace_id, _), span_row in zip(batch.keys, batch.rows, strict=True):
        span_row[TRACE_ROWID] = rowids[trace_id]
    SPAN_UPSERT.execute_rows(conn, batch.rows)
    with_calls = {key[0] for key, row in zip(batch.keys, batch.rows, strict=True) if row[KIND] == "LLM"}
    recount |= _same_calls_stored(conn, {rowids[t]: t for t in with_calls & stored_before})
    if batch.tags:
        conn.execute(
            upsert(conn.dialect.name, TAGS, ["trace_rowid", "tag"]),
            [{"trace_rowid": rowids[trace_id], "tag": tag} for trace_id, tag in sorted(batch.tags)],
        )
    # Traces stored before this batch: their roll-ups must include the spans already there.
    refresh_rollups(conn, [rowids[row["trace_id"]] for row in known] + [rowids[t] for t in recount])
    return len(batch.rows)


def _call_span(row: Sequence[Any], span_id: str) -> CallSpan:
    return CallSpan(span_id, row[PARENT], row[MODEL], row[START], row[END], row[PROMPT_TOKENS],
                    row[COMPLETION_TOKENS], row[RECORDED_BY], row[STATUS] == "ERROR")  # fmt: skip


def _same_calls_in_batch(batch: PreparedSpans, stored_before: set[str]) -> set[str]:
    """Mark the LLM spans of this batch's new traces that restate another's call (all of a
    new trace's spans are in the batch); returns the traces with such a span."""
    calls: dict[str, list[tuple[list[Any], CallSpan]]] = {}
    for (trace_id, span_id), row in zip(batch.keys, batch.rows, strict=True):
        if row[KIND] == "LLM" and trace_id not in stored_before:
            calls.setdefault(trace_id, []).append((row, _call_span(row, span_id)))
    marked = set()
    for trace_id, spans in calls.items():
        found = marks([span for _, span in spans], [row[SAME_CALL] for row, _ in spans])
        for (row, _), mark in zip(spans, found, strict=True):
            row[SAME_CALL] = mark
            if mark is not None:
                marked.add(trace_id)
    return marked


def _same_calls_stored(conn: Connection, traces: dict[int, str]) -> set[str]:
    """The same for traces stored before this batch, read with their stored LLM spans;
    returns the traces where a mark changed."""
    s = SPANS.c
    changed: set[str] = set()
    for chunk in _chunks(sorted(traces)):
        query = select(s.id, s.trace_rowid, s.span_id, s.parent_span_id, s.model, s.start_time, s.end_time,
                       s.prompt_tokens, s.completion_tokens, s.recorded_by, s.status_code == "ERROR",
                       s.same_call_as).where(s.trace_rowid.in_(chunk), s.kind == "LLM")  # fmt: skip
        by_trace: dict[int, list[Any]] = {}
        for row in conn.execute(query).all():
            by_trace.setdefault(row[1], []).append(row)
        for trace_rowid, rows in by_trace.items():
            found = marks([CallSpan(*row[2:11]) for row in rows], [row[11] for row in rows])
            for row, mark in zip(rows, found, strict=True):
                if mark != row[11]:
                    conn.execute(update(SPANS).where(s.id == row[0]).values(same_call_as=mark))
                    changed.add(traces[trace_rowid])
    return changed


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
