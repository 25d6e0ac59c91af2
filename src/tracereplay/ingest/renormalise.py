"""Read stored spans again through the conventions, after a mapper has learnt more.

Only spans an instrumentation library recorded are read again: the spans of a replay are what
the replay ran, and those sent to the JSON API carry the fields their producer gave.

A stored span keeps every raw attribute its normalised fields do not reproduce exactly, and
says which content forms they reproduce (`conventions.reproduce`), so its raw attributes can be
put back together and read again. The re-read spans go through the one way in
(`Ingestion.store_spans`): stored again in place, their traces' roll-ups recounted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Trace
from tracereplay.ingest.conventions import CONVENTIONS, NormalisedFields
from tracereplay.ingest.conventions.reproduce import restore
from tracereplay.ingest.otlp import NORMALISED_FIELDS, build_span
from tracereplay.ingest.records import STORED_FIELDS, SpanRecord
from tracereplay.ingest.service import Ingestion
from tracereplay.traces.queries import trace_spans

_PRICED_BY = ("kind", "provider", "model", "prompt_tokens", "completion_tokens")
TRACES_PER_BATCH = 200


@dataclass
class Renormalised:
    traces: int = 0
    spans: int = 0
    changed: int = 0


def renormalised(span: SpanRecord) -> SpanRecord:
    """The span as the conventions read its raw attributes now. A span no convention reads (its
    producer gave its fields: the JSON API) is left as it is; a field the attributes do not give
    (joined from log records) keeps its stored value."""
    stored = cast(NormalisedFields, {name: getattr(span, name) for name in NORMALISED_FIELDS})
    attributes = restore(span.attributes, stored)
    if not any(convention.detect(attributes) for convention in CONVENTIONS):
        return span
    fresh = build_span(
        span.trace_id, span.span_id, span.parent_span_id, span.name, span.start_time, span.end_time,
        span.status_code, span.status_message, attributes, span.events, {"service.name": span.service_name},
    )  # fmt: skip
    for name in NORMALISED_FIELDS:
        if getattr(fresh, name) is None or (name == "kind" and fresh.kind == "UNKNOWN"):
            setattr(fresh, name, getattr(span, name))
    if all(getattr(fresh, name) == getattr(span, name) for name in _PRICED_BY):
        fresh.cost = span.cost  # the same call: its cost stands
    fresh.same_call_as = span.same_call_as  # found again when stored, with the trace's other spans
    return fresh


def _differs(fresh: SpanRecord, stored: SpanRecord) -> bool:
    return any(getattr(fresh, name) != getattr(stored, name) for name in STORED_FIELDS)


def renormalise_project(
    sessions: sessionmaker[Session], ingest: Ingestion, project_rowid: int
) -> Renormalised:
    """Read every stored span of a project again; store those whose reading changed."""
    done = Renormalised()
    last = 0
    while True:
        with sessions() as session:
            # A replay's spans are what the replay ran, not a reading of what a library sent.
            traces = session.scalars(
                select(Trace)
                .where(Trace.project_rowid == project_rowid, Trace.id > last, Trace.source_trace_id.is_(None))
                .order_by(Trace.id)
                .limit(TRACES_PER_BATCH)
            ).all()
            spans = [span for trace in traces for span in trace_spans(session, trace)]
        if not traces:
            return done
        last = traces[-1].id
        changed = [fresh for span in spans if _differs(fresh := renormalised(span), span)]
        if changed:
            ingest.store_spans(project_rowid, changed)
        done.traces += len(traces)
        done.spans += len(spans)
        done.changed += len(changed)
