"""Which span of the target trace corresponds to which span of the base trace.

A replay's spans pair exactly: the replayed trace's span ids are derived from the replay id and
the original span ids (`replay.executor.derived_id`). Two unrelated traces are aligned as
sequences: each trace's spans in tree order (depth first, siblings by start time), keyed by
depth, kind and name, matched as a longest common subsequence (rapidfuzz's Indel opcodes, in
C++: milliseconds for thousands of spans whose few distinct keys make `difflib` quadratic), so
an inserted or removed step shifts nothing after it. Spans left over are added (target
only) or removed (base only). Pure functions over span records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from tracereplay.ingest.records import SpanRecord


@dataclass(frozen=True)
class Alignment:
    pairs: list[tuple[SpanRecord, SpanRecord]]  # (base, target), in base tree order
    removed: list[SpanRecord]  # base only
    added: list[SpanRecord]  # target only


def tree_order(spans: Sequence[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """(depth, span) depth first, children by start time; orphans (parent never arrived) are roots."""
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda span: (span.start_time, span.span_id))
    ordered: list[tuple[int, SpanRecord]] = []
    stack = [(0, span) for span in reversed(children.get(None, []))]
    while stack:
        depth, span = stack.pop()
        ordered.append((depth, span))
        stack.extend((depth + 1, child) for child in reversed(children.get(span.span_id, [])))
    return ordered


def align_by_ids(
    base: Sequence[SpanRecord], target: Sequence[SpanRecord], target_id_of: Callable[[str], str]
) -> Alignment:
    """Pairs through an id mapping (a replay's: original span id -> replayed span id)."""
    by_id = {span.span_id: span for span in target}
    pairs, removed = [], []
    for _, span in tree_order(base):
        match = by_id.pop(target_id_of(span.span_id), None)
        if match is None:
            removed.append(span)
        else:
            pairs.append((span, match))
    added = [span for _, span in tree_order(list(by_id.values()))]
    return Alignment(pairs, removed, added)


def align_by_shape(base: Sequence[SpanRecord], target: Sequence[SpanRecord]) -> Alignment:
    """Pairs of two unrelated traces by tree position and names (see the module docstring)."""
    a, b = tree_order(base), tree_order(target)
    keys_a = [(depth, span.kind, span.name) for depth, span in a]
    keys_b = [(depth, span.kind, span.name) for depth, span in b]
    pairs: list[tuple[SpanRecord, SpanRecord]] = []
    removed: list[SpanRecord] = []
    added: list[SpanRecord] = []
    for block in Indel.opcodes(keys_a, keys_b):
        before = [span for _, span in a[block.src_start : block.src_end]]
        after = [span for _, span in b[block.dest_start : block.dest_end]]
        if block.tag == "equal":
            pairs += zip(before, after, strict=True)
        else:
            removed += before
            added += after
    return Alignment(pairs, removed, added)
