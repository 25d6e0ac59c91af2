"""tracereplay's own JSON span format (for apps without OpenTelemetry) -> span records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tracereplay.ingest.conventions import NormalisedFields
from tracereplay.ingest.conventions.libraries import recorded_by
from tracereplay.ingest.conventions.reproduce import CONTENT_FIELDS
from tracereplay.ingest.otlp import NORMALISED_FIELDS, TRACE_HINTS, build_span
from tracereplay.ingest.records import SpanRecord, TraceHints


def spans_from_batch(spans: Iterable[dict[str, Any]]) -> list[SpanRecord]:
    """Each dict is a validated `SpanIn`; explicit fields override what attributes imply."""
    records = []
    for item in spans:
        start = _utc(item["start_time"])
        end = _utc(item.get("end_time") or start)
        resource = {"service.name": item.get("service_name")}
        if item.get("environment"):
            resource["deployment.environment.name"] = item["environment"]
        record = build_span(
            item["trace_id"].lower(),
            item["span_id"].lower(),
            item["parent_span_id"].lower() if item.get("parent_span_id") else None,
            item["name"],
            start,
            max(start, end),
            item.get("status") or "UNSET",
            item.get("status_message"),
            item.get("attributes") or {},
            None,
            resource,
        )
        for name in NORMALISED_FIELDS:
            if item.get(name) is not None:
                setattr(record, name, item[name])
        if record.total_tokens is None and None not in (record.prompt_tokens, record.completion_tokens):
            record.total_tokens = record.prompt_tokens + record.completion_tokens  # type: ignore[operator]
        if record.kind == "LLM" and record.recorded_by is None:  # the kind was given, not read
            given: NormalisedFields = {"input_messages": record.input_messages or []}
            record.recorded_by = recorded_by(record.attributes, given)
        if any(item.get(name) is not None for name in CONTENT_FIELDS):
            # The attributes were checked against what they say, not against what replaced it.
            record.attributes = item.get("attributes") or {}
        for name in TRACE_HINTS:
            if item.get(name) is not None:
                record.trace = record.trace or TraceHints()
                setattr(record.trace, name, item[name])
        records.append(record)
    return records


def _utc(value: datetime) -> datetime:
    """A time without an offset is UTC, as it is when stored (`db.types.UTCDateTime`)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
