"""LLM providers behind one interface (`Provider.complete`), the registry that builds them from
settings and resolves model names, and (in `pricing`) model prices.

Importing this package does not import the provider SDKs; `ProviderRegistry.from_settings` does.
"""

from tracereplay.providers.base import (
    CallPolicy,
    CompletionRequest,
    CompletionResponse,
    Provider,
    ProviderError,
    ProviderNotConfigured,
    UnknownModel,
)
from tracereplay.providers.registry import ProviderRegistry

__all__ = [
    "CallPolicy",
    "CompletionRequest",
    "CompletionResponse",
    "Provider",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderRegistry",
    "UnknownModel",
]
