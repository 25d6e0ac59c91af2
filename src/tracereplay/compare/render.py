"""A comparison document as text for people: Markdown (pull-request comments, CI logs) and
the lines the CLI prints with colours. Pure functions over the document."""

from __future__ import annotations

from typing import Any

ARROWS = {"up": "▲", "down": "▼", "same": "=", "unknown": "?"}
LABELS = {
    "duration_ms": "duration (ms)", "prompt_tokens": "input tokens",
    "completion_tokens": "output tokens", "total_tokens": "total tokens", "cost": "cost ($)",
    "llm_span_count": "LLM spans", "error_count": "errors",
}  # fmt: skip


def number(value: float | None, *, sign: bool = False) -> str:
    """A count or an amount as it reads: whole numbers with thousands separators, small amounts
    with the digits that matter; `sign`: with its + or -. Unknown stays unknown."""
    if value is None:
        return "unknown"
    plus = "+" if sign else ""
    if float(value).is_integer():
        return f"{value:{plus},.0f}"
    return f"{value:{plus},.6f}".rstrip("0") if abs(value) < 1 else f"{value:{plus},.2f}"


def _change(delta: dict[str, Any]) -> str:
    if delta["trend"] == "unknown":
        return "?"
    relative = f" ({delta['relative']:+.0%})" if delta["relative"] is not None else ""
    return f"{ARROWS[delta['trend']]} {number(delta['absolute'])}{relative}"


def summary_rows(document: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(metric, base, target, change, verdict) for each summary metric."""
    return [
        (
            LABELS.get(d["metric"], d["metric"]),
            number(d["base"]),
            number(d["target"]),
            _change(d),
            d["verdict"],
        )
        for d in document["summary"]
    ]


def _score_value(side: dict[str, Any] | None) -> str:
    if side is None:
        return "missing"
    if side["status"] == "error":
        return "error"
    if side["label"] is not None:
        return str(side["label"])
    return number(side["value"])


def score_rows(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(score, base, target, verdict) for each score name."""
    return [(row["name"], _score_value(row["base"]), _score_value(row["target"]), row["verdict"])
            for row in document["scores"]]  # fmt: skip


def output_lines(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The final output's difference as (op, text): op is equal, insert, delete, or info."""
    diff = document.get("output")
    if diff is None:
        return [("info", "no final output on one side")]
    if diff["kind"] == "text":
        return [(segment["op"], segment["text"]) for segment in diff["segments"]]
    if diff["same"]:
        return [("info", "the same JSON document")]
    lines = [("delete", f"{c['path']}: {c['base']!r}") for c in diff["changed"]]
    lines += [("insert", f"{c['path']}: {c['target']!r}") for c in diff["changed"]]
    lines += [("delete", f"{r['path']} removed") for r in diff["removed"]]
    lines += [("insert", f"{a['path']} added: {a['value']!r}") for a in diff["added"]]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(document: dict[str, Any]) -> str:
    """The comparison as Markdown: summary table, score table, and the final output's diff."""
    base, target = document["base"]["trace_id"], document["target"]["trace_id"]
    lines = [f"### `{target}` compared with `{base}`", "", "| metric | base | target | change | verdict |",
             "|---|---:|---:|---:|---|"]  # fmt: skip
    lines += [f"| {' | '.join(_cell(cell) for cell in row)} |" for row in summary_rows(document)]
    if document["scores"]:
        lines += ["", "| score | base | target | verdict |", "|---|---:|---:|---|"]
        lines += [f"| {' | '.join(_cell(cell) for cell in row)} |" for row in score_rows(document)]
    spans = document["spans"]
    counts = f"{len(spans['pairs'])} paired, {len(spans['added'])} added, {len(spans['removed'])} removed"
    lines += ["", f"Spans: {counts}.", "", "Final output:", "", "```diff"]
    prefix = {"equal": " ", "insert": "+", "delete": "-", "info": "#"}
    for op, text in output_lines(document):
        lines += [f"{prefix[op]} {line}" for line in text.splitlines() or [""]]
    lines.append("```")
    return "\n".join(lines)
