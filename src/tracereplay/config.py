"""Settings: one typed object, read once from `TRACEREPLAY_*` env vars and an optional TOML file.

Nothing else in the package reads the environment; everything receives a `Settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path | None:
    explicit = os.environ.get("TRACEREPLAY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = Path(os.environ.get("TRACEREPLAY_HOME", "~/.tracereplay")).expanduser()
    candidate = home / "config.toml"
    return candidate if candidate.exists() else None


class OpenAICompatibleEndpoint(BaseModel):
    """One OpenAI-compatible server replays may call (vLLM, Ollama, llama.cpp server, OpenRouter…).

    `api_key_env` names the environment variable holding its key (empty for local servers that
    need none); `Settings` resolves it into `api_key` once, when the settings load.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    base_url: str
    api_key_env: str = ""
    models: list[str] = Field(default_factory=list)
    api_key: SecretStr | None = None

    @field_validator("name", mode="after")
    @classmethod
    def _not_a_builtin_provider(cls, value: str) -> str:
        if value in {"openai", "anthropic", "local"}:
            raise ValueError(f"'{value}' is a built-in provider; give the endpoint another name")
        return value


def _env_or_prefixed(name: str) -> AliasChoices:
    """`TRACEREPLAY_<NAME>`, else the SDK's own `<NAME>`, else the field name (TOML file, kwargs)."""
    return AliasChoices(f"TRACEREPLAY_{name}", name, name.lower())


class Settings(BaseSettings):
    """Every knob of the server. Env var = `TRACEREPLAY_` + the field name in upper case."""

    model_config = SettingsConfigDict(env_prefix="TRACEREPLAY_", extra="ignore")

    home: Path = Field(
        default=Path("~/.tracereplay"),
        description="Directory for the SQLite database, the embedded queue and local models.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite in `home`. Use postgresql://… to scale.",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(default=7420, description="Port `serve` listens on.")
    dashboard_auth: Literal["auto", "always"] = Field(
        default="auto",
        description="Dashboard sign-in: `auto` asks for it unless `host` is a loopback address; "
        "`always` asks for it everywhere (users come from `tracereplay users create`).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs dashboard session cookies; default: a key made once in `home`. Servers "
        "sharing one address need the same key.",
    )
    cookie_secure: bool = Field(
        default=False, description="Send the dashboard's session cookie over HTTPS only (behind TLS)."
    )
    queue_url: str | None = Field(
        default=None,
        description="Job queue: default is SQLite in `home`; redis://… or postgresql://… for "
        "separate workers.",
    )
    worker_concurrency: int = Field(default=3, ge=1, description="Jobs run at once per worker.")
    evaluation_quiet_seconds: float = Field(
        default=60.0,
        ge=5,  # a trace written just now may not be committed yet
        description="Evaluators with target `all` score a trace once no span arrived for this long.",
    )
    retention_days: int = Field(
        default=0, ge=0, description="Traces older than this are purged; 0 keeps them forever."
    )
    max_request_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Largest accepted request body, after gzip decompression.",
    )
    init_project: str | None = Field(
        default=None, description="Name of the project created on first start (default 'default')."
    )
    init_api_key: str | None = Field(
        default=None, description="API key created on first start instead of a random one."
    )
    ingest_batch_spans: int = Field(
        default=20_000,
        ge=1,
        description="Most spans committed in one group-commit transaction.",
    )
    ingest_processes: int | None = Field(
        default=None,
        ge=0,
        description="Helper processes that decode large OTLP requests; 0 decodes in the server "
        "process. Default: one per CPU (at most 4), 0 on a single CPU.",
    )
    sqlite_synchronous: str = Field(
        default="NORMAL",
        description="SQLite `synchronous` pragma: NORMAL survives a process crash, FULL a power cut.",
    )
    log_level: str = Field(default="info", description="Server log level.")
    prices: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Price overrides in $ per million tokens, by model name or pattern: "
        '{"gpt-4o*": {"input": 2.5, "output": 10}}; they win over the bundled genai-prices data.',
    )
    # Provider credentials are read under the SDKs' own names too, so pointing the server at a
    # gateway needs no config file; they are then passed to the SDK clients explicitly.
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env_or_prefixed("OPENAI_API_KEY"),
        description="OpenAI API key (also read from OPENAI_API_KEY).",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=_env_or_prefixed("OPENAI_BASE_URL"),
        description="OpenAI API base URL, e.g. a gateway (also read from OPENAI_BASE_URL).",
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env_or_prefixed("ANTHROPIC_API_KEY"),
        description="Anthropic API key (also read from ANTHROPIC_API_KEY).",
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=_env_or_prefixed("ANTHROPIC_BASE_URL"),
        description="Anthropic API base URL (also read from ANTHROPIC_BASE_URL).",
    )
    openai_compatible: list[OpenAICompatibleEndpoint] = Field(
        default_factory=list,
        description="OpenAI-compatible endpoints: [{name, base_url, api_key_env, models}], as JSON "
        "or [[openai_compatible]] tables in the TOML file.",
    )
    provider_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Timeout of one LLM call attempt, in seconds."
    )
    provider_max_retries: int = Field(
        default=4,
        ge=0,
        description="Retries of an LLM call on 429, 5xx, timeouts and connection errors "
        "(exponential backoff, honouring Retry-After).",
    )
    provider_concurrency: int = Field(
        default=8, ge=1, description="Most LLM calls in flight at once per provider, per process."
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("prices", mode="after")
    @classmethod
    def _check_prices(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        # A misspelt key would otherwise price those tokens at 0, which is never "unknown".
        for pattern, price in value.items():
            if set(price) != {"input", "output"} or not all(0 <= v < float("inf") for v in price.values()):
                raise ValueError(
                    f"{pattern!r}: give both prices, non-negative, in $ per million tokens: "
                    f'{{"{pattern}": {{"input": 2.5, "output": 10}}}}, not {price}'
                )
        return value

    @field_validator("sqlite_synchronous", mode="after")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
        return upper

    @field_validator(
        "openai_api_key", "openai_base_url", "anthropic_api_key", "anthropic_base_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `OPENAI_API_KEY=` in a shell means "no key", as it does for the SDKs.
        return None if value == "" else value

    @model_validator(mode="after")
    def _resolve_endpoint_keys(self) -> Settings:
        names = [endpoint.name for endpoint in self.openai_compatible]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"openai_compatible endpoint names must be unique: {duplicates}")
        for endpoint in self.openai_compatible:
            if endpoint.api_key is None and endpoint.api_key_env:
                key = os.environ.get(endpoint.api_key_env)
                endpoint.api_key = SecretStr(key) if key else None
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Users paste libpq URLs; SQLAlchemy needs the driver named.
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            elif url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            return url
        return f"sqlite:///{self.home / 'tracereplay.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
