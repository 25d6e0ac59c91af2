"""tracereplay's own JSON span format (for apps without OpenTelemetry) -> stored spans."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracereplay.ingest.otlp import NORMALISED_COLUMNS, TRACE_HINTS, IncomingSpan, build_span, price_span
from tracereplay.providers.pricing import PriceBook


def spans_from_batch(spans: Iterable[dict[str, Any]], prices: PriceBook | None = None) -> list[IncomingSpan]:
    """Each dict is a validated `SpanIn`; explicit fields override what attributes imply."""
    incoming = []
    for item in spans:
        start = item["start_time"]
        end = item.get("end_time") or start
        resource = {"service.name": item.get("service_name")}
        if item.get("environment"):
            resource["deployment.environment.name"] = item["environment"]
        span = build_span(
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
        for column in NORMALISED_COLUMNS:
            if item.get(column) is not None:
                span.row[column] = item[column]
        if prices is not None:
            price_span(span.row, prices)
        for hint in TRACE_HINTS:
            if item.get(hint) is not None:
                span.hints[hint] = item[hint]
        incoming.append(span)
    return incoming
