"""JSON as tracereplay stores it, in one place: the engine's JSON columns, bulk writes and span
records sent between processes all produce the same text."""

from __future__ import annotations

from typing import Any

import orjson


def json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
