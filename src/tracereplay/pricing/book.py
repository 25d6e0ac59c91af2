"""Model prices and the cost of an LLM call.

Prices come from `genai-prices` (its bundled data: no network at run time), overridden per
model name or pattern by the user: per project through the API (`/api/v1/prices`, stored in
`model_prices`), server-wide through `TRACEREPLAY_PRICES` / `[prices]` in the config file. A
project's own override wins over the server's, which wins over the bundled data. A model with
no known price has cost None ("unknown"), never 0. Lookups are cached per (provider, model):
cost is computed for every LLM span at ingestion, and genai-prices' own calculation is far
too slow to run per span.
"""

from __future__ import annotations

import fnmatch
import functools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    source: str  # "genai-prices", "project override", "server override" or "local"


@dataclass(frozen=True)
class PriceRule:
    """A user's price for the models matching `pattern`: a name ("gpt-4o-mini"), a provider
    and name ("openai:gpt-4o-mini") or a shell-style pattern ("gpt-4o*", "*:llama-3*")."""

    pattern: str
    input_per_mtok: float
    output_per_mtok: float
    source: str

    def matches(self, provider: str | None, model: str) -> bool:
        names = (model,) if provider is None else (f"{provider}:{model}", model)
        return any(fnmatch.fnmatchcase(name, self.pattern) for name in names)


def rules_from_config(overrides: Mapping[str, Mapping[str, float]] | None) -> list[PriceRule]:
    """`{"gpt-4o*": {"input": 2.5, "output": 10}}` (TRACEREPLAY_PRICES) as rules."""
    return [
        PriceRule(
            pattern, float(values.get("input", 0.0)), float(values.get("output", 0.0)), "server override"
        )
        for pattern, values in (overrides or {}).items()
    ]


def most_specific_first(rules: Iterable[PriceRule]) -> list[PriceRule]:
    """Exact names before patterns, longer patterns before shorter: "gpt-4o-mini*" beats "gpt-4o*"."""
    return sorted(rules, key=lambda rule: (any(c in rule.pattern for c in "*?["), -len(rule.pattern)))


def _number(value: Any) -> float | None:
    # Tiered prices (by prompt length) are priced at their base tier.
    value = getattr(value, "base", value)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class PriceBook:
    """Prices for one project: its rules, in the order given (first match wins), then the
    bundled data."""

    def __init__(self, rules: Iterable[PriceRule] = ()) -> None:
        self._rules = list(rules)
        self._cache: dict[tuple[str | None, str], Price | None] = {}
        self._lock = threading.Lock()

    def price(self, provider: str | None, model: str) -> Price | None:
        key = (provider, model)
        if key in self._cache:
            return self._cache[key]
        price = self._override(provider, model)
        if price is None:
            # The in-process model costs nothing per token.
            price = Price(0.0, 0.0, "local") if provider == "local" else bundled_price(provider, model)
        with self._lock:
            self._cache[key] = price
        return price

    def cost(
        self,
        provider: str | None,
        model: str | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> float | None:
        """Dollars for one call, or None when the model's price or the token counts are unknown."""
        if not model or (prompt_tokens is None and completion_tokens is None):
            return None
        price = self.price(provider, model)
        if price is None:
            return None
        return (
            (prompt_tokens or 0) * price.input_per_mtok + (completion_tokens or 0) * price.output_per_mtok
        ) / 1e6

    def _override(self, provider: str | None, model: str) -> Price | None:
        for rule in self._rules:
            if rule.matches(provider, model):
                return Price(rule.input_per_mtok, rule.output_per_mtok, rule.source)
        return None


# Shared by every PriceBook of the process, so a project's book is cheap to rebuild.
@functools.lru_cache(maxsize=4096)
def bundled_price(provider: str | None, model: str) -> Price | None:
    """The genai-prices price of a model, or None."""
    from genai_prices import data_snapshot  # imported on first use: it is not small

    snapshot = data_snapshot.get_snapshot()
    found = None
    for provider_id in [provider, None] if provider else [None]:
        try:
            found = snapshot.find_provider_model(model, None, provider_id, None)
            break
        except LookupError:
            continue
    if found is None:
        return None
    prices = found[1].get_prices(datetime.now(UTC))
    input_price, output_price = _number(prices.input_mtok), _number(prices.output_mtok)
    if input_price is None and output_price is None:
        return None
    return Price(input_price or 0.0, output_price or 0.0, "genai-prices")
