"""One LLM call recorded by two spans: recognised, so that it counts once.

An instrumentation library's span and the provider SDK's own telemetry can both describe one
call: the Anthropic SDK (2.x) opens `anthropic.messages.create` inside OpenInference's
`messages.create`, and beside OpenLLMetry's `anthropic.chat`; a framework's model span holds the
client library's span. Two LLM spans of a trace are one call when one is the other's parent,
or they are siblings, and one lies within the other in time, their models agree (a dated
release of the same model, as a response names it, agrees with its alias) and their token
counts do not disagree. Siblings must both report the same counts: two calls made at once to
one model would otherwise look alike.

Of the two, the span that holds more of the request counts the call (the body the SDK
captured, else input messages; the outer one when they hold as much); the other is stored
with `same_call_as` naming it. Roll-ups, the trace list and replays count and run the call
once, through that span.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CallSpan:
    span_id: str
    parent_span_id: str | None
    model: str | None
    start: Any  # datetime, or its stored text: only compared with others of the same trace
    end: Any
    prompt_tokens: int | None
    completion_tokens: int | None
    detail: int  # what it holds of the request: 2 the body the SDK captured, 1 input messages, 0 neither


def _same_model(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    a, b = a.lower(), b.lower()
    shorter, longer = sorted((a, b), key=len)
    return longer == shorter or longer.startswith(shorter + "-")


def _within(inner: CallSpan, outer: CallSpan) -> bool:
    return bool(outer.start <= inner.start and inner.end <= outer.end)


def _tokens(span: CallSpan) -> tuple[int | None, int | None]:
    return span.prompt_tokens, span.completion_tokens


def _agree(a: CallSpan, b: CallSpan, *, siblings: bool) -> bool:
    if None in _tokens(a) or None in _tokens(b):
        return not siblings
    return _tokens(a) == _tokens(b)


def _candidates(spans: Sequence[CallSpan]) -> Iterable[tuple[CallSpan, CallSpan, bool]]:
    """(inner, outer, siblings) for each span within its parent or within a sibling."""
    by_id = {span.span_id: span for span in spans}
    children: dict[str | None, list[CallSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)
        parent = by_id.get(span.parent_span_id or "")
        if parent is not None:
            yield span, parent, False
    for group in children.values():
        group.sort(key=lambda s: s.end, reverse=True)
        group.sort(key=lambda s: s.start)  # stable: of two starting together, the longer first
        for index, outer in enumerate(group):
            for inner in group[index + 1 :]:
                if inner.start > outer.end:
                    break  # sorted by start: no later sibling begins within `outer`
                yield inner, outer, True


def same_calls(spans: Sequence[CallSpan]) -> dict[str, str]:
    """The LLM spans of one trace that restate another's call: span id -> the span that counts it."""
    restates: dict[str, str] = {}
    holds: set[str] = set()  # spans found to hold another's record of their call
    for inner, outer, siblings in _candidates(spans):
        if inner.span_id in restates or outer.span_id in holds:
            continue
        if not (_within(inner, outer) and _same_model(inner.model, outer.model)):
            continue
        if not _agree(inner, outer, siblings=siblings):
            continue
        counted, other = (inner, outer) if inner.detail > outer.detail else (outer, inner)
        restates[other.span_id] = counted.span_id
        holds.add(outer.span_id)
    # A chain of three (a framework's span, a library's, the SDK's): all point at the one counted.
    for span_id, target in list(restates.items()):
        seen = {span_id}
        while target in restates and target not in seen:
            seen.add(target)
            target = restates[target]
        restates[span_id] = target
    return restates
