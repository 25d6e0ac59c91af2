"""How numbers, times and recorded content read on a page: Jinja filters, pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from tracereplay.compare.render import number

# Content longer than this is shown collapsed, with its full length said, never cut silently.
COLLAPSE_CHARS = 1200


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{minutes:.0f} min {seconds:.0f} s"


def cost(usd: float | None) -> str:
    """Unknown stays unknown: a span without a price is never $0."""
    if usd is None:
        return "unknown"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.6f}".rstrip("0")
    return f"${usd:,.4f}".rstrip("0").rstrip(".")


def tokens(count: int | float | None) -> str:
    return "—" if count is None else f"{count:,.0f}"


def timestamp(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def pretty_json(value: Any) -> str:
    """A value as indented JSON text (shown inside <pre>, escaped like any text)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode()


def compact_json(value: Any) -> str:
    """A value as one line of JSON text."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def is_long(text: str | None) -> bool:
    return text is not None and (len(text) > COLLAPSE_CHARS or text.count("\n") > 20)


def preview(text: str) -> str:
    first = text[:200].split("\n", 3)
    return "\n".join(first[:3]) + " …"


def percent(delta: float | None) -> str:
    return "" if delta is None else f"{delta:+.0%}"


def signed(value: float | None) -> str:
    return "?" if value is None else number(value, sign=True)


def signed_duration(ms: float | None) -> str:
    if ms is None:
        return "?"
    return ("+" if ms > 0 else "\u2212" if ms < 0 else "±") + duration(abs(ms))


FILTERS = {
    "signed_duration": signed_duration,
    "duration": duration,
    "cost": cost,
    "tokens": tokens,
    "timestamp": timestamp,
    "pretty_json": pretty_json,
    "compact_json": compact_json,
    "is_long": is_long,
    "preview": preview,
    "percent": percent,
    "signed": signed,
}
