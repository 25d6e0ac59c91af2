"""The model catalog: models a replay can use right now, with their prices."""

from __future__ import annotations

from dataclasses import dataclass

from tracereplay.pricing.book import PriceBook
from tracereplay.providers.registry import Providers


@dataclass(frozen=True)
class CatalogEntry:
    provider: str
    model: str
    input_per_mtok: float | None  # None: price unknown
    output_per_mtok: float | None
    price_source: str | None

    @property
    def reference(self) -> str:
        return f"{self.provider}:{self.model}"


def model_catalog(providers: Providers, prices: PriceBook) -> list[CatalogEntry]:
    """Every (provider, model) usable now: the provider is configured and has its key."""
    entries = []
    for provider, model in providers.available_models():
        price = prices.price(provider, model)
        entries.append(
            CatalogEntry(
                provider,
                model,
                price.input_per_mtok if price else None,
                price.output_per_mtok if price else None,
                price.source if price else None,
            )
        )
    return entries
