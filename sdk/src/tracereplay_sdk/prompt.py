"""Prompt versions fetched from the server, cached stale-while-revalidate, and `Prompt.use`,
which links every LLM span started inside it to the version and the variables that rendered it.

A fetched version is served from the cache for `cache_ttl` seconds; after that the cached one
is still served at once while one background request refreshes it. When that request fails
(the server is down, a network error), the cached version stays in use, a warning says so
once per outage, and the next attempt waits `RETRY_SECONDS`: a prompt that was fetched once
never raises. A version fetched by number never changes, so it is never fetched again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry import context as otel_context

from tracereplay_sdk import templates
from tracereplay_sdk.templates import Rendered

log = logging.getLogger("tracereplay_sdk")
RETRY_SECONDS = 5.0  # after a failed refresh, before the next one

# The OpenTelemetry context key under which `Prompt.use` keeps the active link.
ACTIVE_USE = otel_context.create_key("tracereplay.prompt")


class PromptError(Exception):
    """A prompt that cannot be fetched: the message says what and how to fix it."""


class PromptNotFound(PromptError):
    """The server has no such prompt, version or label."""


class PromptUnavailable(PromptError):
    """The server could not be reached and no version of the prompt was fetched before."""


@dataclass(frozen=True)
class PromptUse:
    """What `Prompt.use` writes on the LLM spans started inside it: the version, and the
    variables as JSON, taken when the block starts (an app may change its objects later)."""

    name: str
    version: int
    variables_json: str

    @classmethod
    def of(cls, name: str, version: int, variables: dict[str, Any]) -> PromptUse:
        try:
            text = templates.value_text(variables)
        except (TypeError, ValueError) as exc:
            raise templates.TemplateError(f"the variables cannot be recorded as JSON: {exc}") from exc
        return cls(name, version, text)

    def attributes(self) -> dict[str, str | int]:
        return {
            "tracereplay.prompt.name": self.name,
            "tracereplay.prompt.version": self.version,
            "tracereplay.prompt.variables": self.variables_json,
        }


@dataclass(frozen=True)
class Prompt:
    """One immutable prompt version, as the server answers it."""

    name: str
    version: int
    type: templates.PromptType
    prompt: str | list[dict[str, Any]]
    config: dict[str, Any] | None = None
    labels: list[str] = field(default_factory=list)
    version_id: str | None = None

    @classmethod
    def from_api(cls, document: Mapping[str, Any]) -> Prompt:
        return cls(
            name=document["name"],
            version=int(document["version"]),
            type=document["type"],
            prompt=document["prompt"],
            config=document.get("config"),
            labels=list(document.get("labels") or []),
            version_id=document.get("version_id"),
        )

    @property
    def variables(self) -> templates.Variables:
        """The variables this version needs: text ones, and placeholders (lists of messages)."""
        return templates.variables(self.type, self.prompt)

    def render(self, /, **variables: Any) -> Rendered:
        """The version filled in: a string (text) or a list of messages (chat). Raises
        `templates.TemplateError` naming any variable missing or of the wrong kind."""
        return templates.render(self.type, self.prompt, variables)

    @contextmanager
    def use(self, /, **variables: Any) -> Iterator[Rendered]:
        """Render this version and link every LLM span started inside the block, by any
        instrumentation library, to this version and these variables: a replay can then
        render another version of the prompt with the very same variables."""
        rendered = self.render(**variables)
        link = PromptUse.of(self.name, self.version, variables)
        token = otel_context.attach(otel_context.set_value(ACTIVE_USE, link))
        try:
            yield rendered
        finally:
            otel_context.detach(token)


@dataclass
class _Cached:
    prompt: Prompt
    fetched_at: float
    refreshing: bool = False
    failing_since: float | None = None  # the first failed refresh of an outage
    retry_at: float = 0.0


class PromptClient:
    """Fetches prompt versions from a tracereplay server (`/api/v1/prompts/{name}`) and caches
    them; thread-safe."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        cache_ttl: float = 60.0,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=endpoint.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "tracereplay-sdk"},
            timeout=timeout,
            transport=transport,
        )
        self.cache_ttl = cache_ttl
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._lock = threading.Lock()

    def get(self, name: str, *, label: str | None = "production", version: int | None = None) -> Prompt:
        """A version of prompt `name`: by `version` number, else the one carrying `label`
        (`production` by default; `latest` is the newest). Served from the cache when it has
        one (see the module docstring); raises PromptNotFound or PromptUnavailable only when
        nothing was fetched before."""
        key = (name, f"version:{version}" if version is not None else f"label:{label or 'latest'}")
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                now = time.monotonic()
                fresh = version is not None or now - cached.fetched_at < self.cache_ttl
                if fresh or cached.refreshing or now < cached.retry_at:
                    return cached.prompt
                cached.refreshing = True
        if cached is not None:
            try:
                threading.Thread(
                    target=self._refresh, args=(key, cached), name="tracereplay-prompt-refresh", daemon=True
                ).start()
            except RuntimeError:  # no new threads (interpreter shutting down): serve the cache
                cached.refreshing = False
            return cached.prompt
        prompt = self._fetch(name, label, version)
        with self._lock:
            self._cache[key] = _Cached(prompt, time.monotonic())
        return prompt

    def _refresh(self, key: tuple[str, str], cached: _Cached) -> None:
        name, selector = key
        try:
            prompt = self._fetch(name, selector.partition(":")[2], None)
        except Exception as exc:  # whatever happens, the cached version stays in use
            now = time.monotonic()
            if cached.failing_since is None:
                cached.failing_since = now
                log.warning(
                    "tracereplay: serving prompt %r version %d from the cache (fetched %.0f s ago): %s",
                    name, cached.prompt.version, now - cached.fetched_at, exc,
                )  # fmt: skip
            cached.retry_at = now + RETRY_SECONDS
            return
        finally:
            cached.refreshing = False
        if cached.failing_since is not None:
            log.info("tracereplay: prompt %r fetched from the server again", name)
        with self._lock:
            self._cache[key] = _Cached(prompt, time.monotonic())

    def _fetch(self, name: str, label: str | None, version: int | None) -> Prompt:
        params: dict[str, str | int] = {"version": version} if version is not None else {}
        if version is None and label:
            params["label"] = label
        try:
            response = self._http.get(f"/api/v1/prompts/{quote(name, safe='')}", params=params)
        except httpx.HTTPError as exc:
            raise PromptUnavailable(
                f"prompt {name!r} could not be fetched from {self._http.base_url}: {exc!s} "
                "(is the server running, and is the endpoint right?)"
            ) from exc
        if response.status_code == 404:
            raise PromptNotFound(_error_message(response))
        if response.status_code in (401, 403):
            raise PromptError(f"the server refused the API key: {_error_message(response)}")
        if response.is_error:
            raise PromptUnavailable(
                f"prompt {name!r}: the server answered {response.status_code}: {_error_message(response)}"
            )
        try:
            return Prompt.from_api(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise PromptUnavailable(
                f"prompt {name!r}: {self._http.base_url} answered something that is not a prompt "
                "(is the endpoint a tracereplay server?)"
            ) from exc

    def close(self) -> None:
        self._http.close()


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(body)[:200]


def active_use() -> PromptUse | None:
    """The innermost `Prompt.use` block around the caller, if any."""
    link = otel_context.get_value(ACTIVE_USE)
    return link if isinstance(link, PromptUse) else None
