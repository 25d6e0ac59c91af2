"""Summary deltas of two traces: each metric's base and target values, the change, its trend
and a verdict that knows which way is better.

Each metric has an explicit direction (shorter, fewer tokens, cheaper and fewer errors are
improvements; the LLM span count is only "changed") and a tolerance: a change within it is
"same", so noise does not read as a win or a loss. A value that is unknown on either side
(a cost with no price, say) gives an unknown delta and verdict, never a zero. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Better = Literal["lower", "higher", "neither"]
Trend = Literal["up", "down", "same", "unknown"]
Verdict = Literal["better", "worse", "same", "changed", "unknown"]


@dataclass(frozen=True)
class Metric:
    name: str
    better: Better
    tolerance: float  # a relative change at most this large is "same" (0.02: 2%)


METRICS = (
    Metric("duration_ms", "lower", 0.05),
    Metric("prompt_tokens", "lower", 0.0),
    Metric("completion_tokens", "lower", 0.0),
    Metric("total_tokens", "lower", 0.0),
    Metric("cost", "lower", 0.01),
    Metric("llm_span_count", "neither", 0.0),
    Metric("error_count", "lower", 0.0),
)


@dataclass(frozen=True)
class Delta:
    metric: str
    base: float | None
    target: float | None
    absolute: float | None  # target - base
    relative: float | None  # absolute / base; None when base is 0 or unknown
    trend: Trend
    verdict: Verdict
    better: Better


def delta(metric: Metric, base: float | None, target: float | None) -> Delta:
    """One metric compared; unknown stays unknown."""
    if base is None or target is None:
        return Delta(metric.name, base, target, None, None, "unknown", "unknown", metric.better)
    absolute = target - base
    relative = absolute / base if base else (0.0 if absolute == 0 else None)
    within = abs(absolute) <= metric.tolerance * abs(base)
    trend: Trend = "same" if absolute == 0 or within else ("up" if absolute > 0 else "down")
    verdict: Verdict
    if trend == "same":
        verdict = "same"
    elif metric.better == "neither":
        verdict = "changed"
    else:
        improved = (trend == "down") == (metric.better == "lower")
        verdict = "better" if improved else "worse"
    return Delta(metric.name, base, target, absolute, relative, trend, verdict, metric.better)


def summary(base: Any, target: Any) -> list[Delta]:
    """Every metric of two traces (anything with the metrics as attributes, e.g. `TraceView`)."""
    return [delta(metric, getattr(base, metric.name), getattr(target, metric.name)) for metric in METRICS]
