"""Span records made rows where they are decoded (a helper process) and written by the writer
with others: what is stored is what the records say, whichever way their batches arrived."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from tracereplay.context import AppContext
from tracereplay.ingest.records import SpanRecord, TraceHints
from tracereplay.ingest.store import PreparedSpans, prepare_spans, write_spans
from tracereplay.traces.queries import get_trace

START = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
TRACE = "ab" * 16


def spans() -> list[SpanRecord]:
    root = SpanRecord(
        TRACE,
        "01" * 8,
        None,
        "agent",
        START,
        START + timedelta(seconds=3),
        kind="AGENT",
        input="Weather?",
        output="Sunny",
        trace=TraceHints(session_id="s1", tags=["prod"]),
    )
    llm = SpanRecord(
        TRACE,
        "02" * 8,
        root.span_id,
        "chat",
        START,
        START + timedelta(seconds=1),
        kind="LLM",
        provider="openai",
        model="gpt-4o-mini",
        prompt_tokens=1000,
        completion_tokens=100,
        total_tokens=1100,
        attributes={"n": 1, "text": "é\x01"},
        input_messages=[{"role": "user", "content": "Weather?"}],
        invocation_parameters={"temperature": 0.2},
        trace=TraceHints(tags=["agent"]),
    )
    tool = SpanRecord(
        TRACE,
        "03" * 8,
        root.span_id,
        "lookup",
        START + timedelta(seconds=1),
        START + timedelta(seconds=2),
        kind="TOOL",
        status_code="ERROR",
        output="{}",
    )
    return [root, llm, tool]  # fmt: skip


def from_helper(records: list[SpanRecord], dialect: str) -> PreparedSpans:
    prepared: PreparedSpans = pickle.loads(pickle.dumps(prepare_spans(records, dialect)))
    return prepared


def test_batches_prepared_apart_are_stored_like_one(ctx: AppContext) -> None:
    ctx.bootstrap()
    dialect = ctx.engine.dialect.name
    book = ctx.prices.book(1)
    root, llm, tool = spans()
    # The children from one helper; the root and a re-sent LLM span from another.
    first, second = from_helper([llm, tool], dialect), from_helper([root, llm], dialect)
    for batch in (first, second):
        batch.price(book.cost)
    with ctx.engine.begin() as conn:
        assert write_spans(conn, 1, [first, second]) == 3

    detail = get_trace(ctx.sessions, 1, TRACE)
    trace = detail.trace
    price = book.cost("openai", "gpt-4o-mini", 1000, 100)
    assert price is not None and price > 0
    assert (trace.span_count, trace.llm_span_count, trace.error_count) == (3, 1, 1)
    assert (trace.prompt_tokens, trace.completion_tokens, trace.total_tokens) == (1000, 100, 1100)
    assert trace.cost == price  # the re-sent span counted once
    assert (trace.name, trace.input, trace.output, trace.session_id) == ("agent", "Weather?", "Sunny", "s1")
    assert sorted(trace.tags) == ["agent", "prod"]
    assert trace.duration_ms == 3000.0
    stored = {span.span_id: span for span in detail.spans}
    llm.cost = price
    for record in (root, llm, tool):
        record.trace = None  # rolled up onto the trace, not a span column
        assert stored[record.span_id] == record


def test_a_batch_of_records_prices_only_what_has_no_cost(ctx: AppContext) -> None:
    _, llm, _ = spans()
    priced = SpanRecord(TRACE, "04" * 8, None, "chat", START, START, kind="LLM", model="gpt-4o-mini",
                        prompt_tokens=10, cost=1.5)  # fmt: skip
    batch = prepare_spans([llm, priced], ctx.engine.dialect.name)
    assert [position for position, *_ in batch.unpriced] == [0]
    batch.price(lambda provider, model, prompt, completion: 0.25)
    assert batch.traces[TRACE]["cost"] == 1.75 and batch.unpriced == []


def test_a_group_of_log_records_alone_writes_no_spans(ctx: AppContext) -> None:
    ctx.bootstrap()
    with ctx.engine.begin() as conn:
        assert write_spans(conn, 1, []) == 0
        assert write_spans(conn, 1, [prepare_spans([], ctx.engine.dialect.name)]) == 0
