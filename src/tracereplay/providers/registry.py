"""The providers this server can call now, built from `Settings`, and model-name resolution.

A replay names its model as `provider:model` (explicit) or as a bare name, resolved through
the providers' model lists and then by naming convention (`gpt-…`, `o1/o3/o4…` -> openai,
`claude-…` -> anthropic). A provider the user has not configured is refused with the setting
to add, never called.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tracereplay.config import Settings
from tracereplay.providers.base import CallPolicy, Provider, ProviderNotConfigured, UnknownModel

_CONVENTIONS = (
    (re.compile(r"^(gpt-|chatgpt-|o[134]($|-))"), "openai"),
    (re.compile(r"^claude-"), "anthropic"),
)

_HOW_TO_CONFIGURE = {
    "openai": "set OPENAI_API_KEY (or TRACEREPLAY_OPENAI_API_KEY) on the server, or OPENAI_BASE_URL "
    "for a gateway that needs no key",
    "anthropic": "set ANTHROPIC_API_KEY (or TRACEREPLAY_ANTHROPIC_API_KEY) on the server",
    "local": "the local model is not installed: `pip install ./sdk '.[local]'` in the checkout "
    "(make demo does it)",
}


@dataclass(frozen=True)
class ProviderStatus:
    """What the settings page shows of a provider: never its key."""

    name: str
    configured: bool
    models: list[str]
    how_to_configure: str | None  # when it is not configured


class Providers(Protocol):
    """What replay and the model catalog need of a registry (`ProviderRegistry`, or the
    `DeferredRegistry` that builds one on first use)."""

    @property
    def providers(self) -> list[Provider]: ...

    def statuses(self) -> list[ProviderStatus]: ...

    def resolve(self, model_ref: str) -> tuple[Provider, str]: ...

    def available_models(self) -> list[tuple[str, str]]: ...

    def close(self) -> None: ...


class ProviderRegistry:
    """Configured providers by name, in resolution order, plus how to configure the others."""

    def __init__(
        self, providers: Iterable[Provider] = (), *, unconfigured: dict[str, str] | None = None
    ) -> None:
        self._providers: dict[str, Provider] = {}
        # provider name -> what to set to enable it; named in the error when a replay asks for it
        self._unconfigured = dict(_HOW_TO_CONFIGURE if unconfigured is None else unconfigured)
        for provider in providers:
            self.register(provider)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderRegistry:
        """Every provider the settings enable. Endpoints the user declared come first, so a bare
        model name they listed resolves to them before any built-in list."""
        from tracereplay.providers.anthropic_provider import AnthropicProvider, anthropic_models
        from tracereplay.providers.local_provider import LocalProvider, local_model_available
        from tracereplay.providers.openai_provider import OPENAI_BASE_URL, OpenAIProvider, openai_models

        policy = CallPolicy(
            timeout_seconds=settings.provider_timeout_seconds,
            max_retries=settings.provider_max_retries,
            concurrency=settings.provider_concurrency,
        )
        registry = cls()
        for endpoint in settings.openai_compatible:
            key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
            if endpoint.api_key_env and key is None:
                registry.mark_unconfigured(endpoint.name, f"set {endpoint.api_key_env} on the server")
                continue
            registry.register(
                OpenAIProvider(
                    endpoint.name,
                    base_url=endpoint.base_url,
                    api_key=key,
                    models=endpoint.models,
                    policy=policy,
                )
            )
        if local_model_available():
            registry.register(LocalProvider(settings.home, policy))
        openai_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if openai_key or settings.openai_base_url:
            base_url = settings.openai_base_url or OPENAI_BASE_URL
            models = openai_models()
            registry.register(
                OpenAIProvider("openai", base_url=base_url, api_key=openai_key, models=models, policy=policy)
            )
        if settings.anthropic_api_key:
            registry.register(
                AnthropicProvider(
                    api_key=settings.anthropic_api_key.get_secret_value(),
                    base_url=settings.anthropic_base_url,
                    models=anthropic_models(),
                    policy=policy,
                )
            )
        return registry

    def register(self, provider: Provider) -> None:
        if provider.name in self._providers:
            raise ValueError(f"provider '{provider.name}' is registered twice")
        self._providers[provider.name] = provider
        self._unconfigured.pop(provider.name, None)

    def mark_unconfigured(self, name: str, how_to_configure: str) -> None:
        """Known by name but unusable until `how_to_configure` is done."""
        self._unconfigured[name] = how_to_configure

    @property
    def providers(self) -> list[Provider]:
        return list(self._providers.values())

    def get(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is not None:
            return provider
        if name in self._unconfigured:
            raise ProviderNotConfigured(
                f"provider '{name}' is not configured: {self._unconfigured[name]}",
                details={"provider": name},
            )
        raise UnknownModel(
            f"unknown provider '{name}'; known providers: {', '.join(self._known_names())}",
            details={"provider": name},
        )

    def resolve(self, model_ref: str) -> tuple[Provider, str]:
        """`provider:model` or a bare model name -> (provider, model name to send).

        A bare name is looked up in the providers' model lists (in registration order), then
        by naming convention. Model names may contain colons (Ollama's `llama3.2:3b`): only a
        prefix that names a provider counts as one.
        """
        model_ref = model_ref.strip()
        prefix, sep, rest = model_ref.partition(":")
        # Case-insensitive: some instrumentations record the provider as "OpenAI".
        names = {name.lower(): name for name in self._known_names()}
        if sep and rest and prefix.lower() in names:
            return self.get(names[prefix.lower()]), rest
        for provider in self._providers.values():
            if model_ref in provider.models():
                return provider, model_ref
        for pattern, name in _CONVENTIONS:
            if pattern.search(model_ref):
                return self.get(name), model_ref
        raise UnknownModel(
            f"unknown model '{model_ref}': name it as provider:model (providers: "
            f"{', '.join(self._known_names())}), or use a model from `tracereplay models`",
            details={"model": model_ref},
        )

    def available_models(self) -> list[tuple[str, str]]:
        """(provider, model) pairs a replay can use now."""
        return [(p.name, model) for p in self._providers.values() for model in p.models()]

    def statuses(self) -> list[ProviderStatus]:
        """Every provider known by name: configured ones with their models, then the others
        with what to set."""
        configured = [ProviderStatus(p.name, True, p.models(), None) for p in self._providers.values()]
        missing = [ProviderStatus(name, False, [], how) for name, how in self._unconfigured.items()]
        return configured + missing

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()

    def _known_names(self) -> list[str]:
        return [*self._providers, *(n for n in self._unconfigured if n not in self._providers)]


class DeferredRegistry:
    """The registry of `settings`, built on first use.

    Building it imports the provider SDKs (tens of MB); a server that only ingests, or a CLI
    command that only lists traces, never pays for that.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._built: ProviderRegistry | None = None
        self._lock = threading.Lock()

    @property
    def registry(self) -> ProviderRegistry:
        with self._lock:
            if self._built is None:
                self._built = ProviderRegistry.from_settings(self._settings)
            return self._built

    @property
    def providers(self) -> list[Provider]:
        return self.registry.providers

    def resolve(self, model_ref: str) -> tuple[Provider, str]:
        return self.registry.resolve(model_ref)

    def available_models(self) -> list[tuple[str, str]]:
        return self.registry.available_models()

    def statuses(self) -> list[ProviderStatus]:
        return self.registry.statuses()

    def close(self) -> None:
        with self._lock:
            built, self._built = self._built, None
        if built is not None:
            built.close()
