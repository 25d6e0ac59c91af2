"""SQLAlchemy models: the schema shared by SQLite and PostgreSQL.

OpenTelemetry ids (`trace_id`, `span_id`) are the lowercase hex strings users see; surrogate
keys are integers named `id` in their own table and `<table>_rowid` where referenced, so the
two are never confused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tracereplay.db.types import JSONType, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key. Only its SHA-256 is stored; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A dashboard user. Only the Argon2 hash of the password is stored."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # In every session cookie of this user; a new one (sign-out) ends all of them.
    session_nonce: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectMember(Base):
    """A user may see a project's pages."""

    __tablename__ = "project_members"

    user_rowid: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_rowid: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Trace(Base):
    __tablename__ = "traces"
    __table_args__ = (
        UniqueConstraint("project_rowid", "trace_id"),
        Index("ix_traces_project_start", "project_rowid", "start_time"),
        Index("ix_traces_project_updated", "project_rowid", "updated_at", "id"),  # the traffic job's scan
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    trace_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(500))
    session_id: Mapped[str | None] = mapped_column(String(500), index=True)
    user_id: Mapped[str | None] = mapped_column(String(500))
    environment: Mapped[str | None] = mapped_column(String(200))
    trace_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    span_count: Mapped[int] = mapped_column(Integer, default=0)
    llm_span_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cost: Mapped[float | None] = mapped_column(Float)
    source_trace_id: Mapped[str | None] = mapped_column(String(32))
    replay_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Replay(Base):
    """One job re-executing one trace with one set of overrides. The system of record: the
    queue only carries "run replay X"."""

    __tablename__ = "replays"
    __table_args__ = (Index("ix_replays_source", "source_trace_rowid", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    replay_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    source_trace_rowid: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), index=True)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONType)
    llm_spans_total: Mapped[int] = mapped_column(Integer, default=0)
    llm_spans_done: Mapped[int] = mapped_column(Integer, default=0)
    llm_spans_failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result_trace_id: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the enabled evaluators scored the replayed trace and its original (None: not yet).
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModelPrice(Base):
    """A project's own price for the models matching `model_pattern` (US $ per million tokens)."""

    __tablename__ = "model_prices"
    __table_args__ = (UniqueConstraint("project_rowid", "model_pattern"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    model_pattern: Mapped[str] = mapped_column(String(200))
    input_per_mtok: Mapped[float] = mapped_column(Float)
    output_per_mtok: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptTemplate(Base):
    """A named prompt of a project; its text lives in immutable, numbered versions."""

    __tablename__ = "prompt_templates"
    __table_args__ = (UniqueConstraint("project_rowid", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # its newest version


class PromptVersion(Base):
    """One version of a template: never changed once written."""

    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("template_rowid", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[str] = mapped_column(String(32), unique=True)  # what a replay names
    template_rowid: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(10))  # "text" or "chat"
    body: Mapped[Any] = mapped_column(JSONType)  # text: a string; chat: a list of messages
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    commit_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptLabel(Base):
    """A label ("production", "staging", …) pointing at one version of its template."""

    __tablename__ = "prompt_labels"

    template_rowid: Mapped[int] = mapped_column(
        ForeignKey("prompt_templates.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(100), primary_key=True)
    version_rowid: Mapped[int] = mapped_column(ForeignKey("prompt_versions.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TraceTag(Base):
    __tablename__ = "trace_tags"

    trace_rowid: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class Span(Base):
    __tablename__ = "spans"
    __table_args__ = (UniqueConstraint("trace_rowid", "span_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trace_rowid: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"))
    span_id: Mapped[str] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    end_time: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[str] = mapped_column(String(10))
    status_message: Mapped[str | None] = mapped_column(Text)
    service_name: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    events: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(100))
    # Not indexed: the model filter probes spans per trace through (trace_rowid, span_id),
    # and an index here would cost every ingested span a fifth more write time.
    model: Mapped[str | None] = mapped_column(String(200))
    invocation_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    input_messages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    output_messages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    tools: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cost: Mapped[float | None] = mapped_column(Float)
    prompt_template: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Another LLM span of the trace that records the same call (SDK telemetry under a library's
    # span): roll-ups count the call once, through that span (`ingest.same_call`).
    same_call_as: Mapped[str | None] = mapped_column(String(16))
    # What recorded an LLM span, and how much of its request it holds ("<detail>:<source>").
    recorded_by: Mapped[str | None] = mapped_column(String(200))


class Evaluator(Base):
    """A configured evaluator of a project: its type, its current configuration (each change
    is a new version, kept in `evaluator_configs`) and which traces it scores."""

    __tablename__ = "evaluators"
    __table_args__ = (UniqueConstraint("project_rowid", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    config_version: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean)
    target: Mapped[str] = mapped_column(String(10))  # "replays" or "all"
    sampling_rate: Mapped[float] = mapped_column(Float)
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # trace name, tags, environment
    # Target "all": where the traffic job's last run stopped, in (trace updated_at, row id) order.
    scanned_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scanned_rowid: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EvaluatorConfig(Base):
    """One configuration version of an evaluator: never changed once written."""

    __tablename__ = "evaluator_configs"

    evaluator_rowid: Mapped[int] = mapped_column(
        ForeignKey("evaluators.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Score(Base):
    """A value an evaluator, a person or the API gave a trace or one of its spans.

    An evaluator scores a trace once per configuration version (the unique constraint makes a
    re-run after a crash a no-op); `error` says why it could not judge, and then there is no
    value."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("trace_rowid", "evaluator_rowid", "config_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trace_rowid: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"), index=True)
    span_rowid: Mapped[int | None] = mapped_column(ForeignKey("spans.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    data_type: Mapped[str] = mapped_column(
        String(12), server_default="numeric"
    )  # numeric, boolean, categorical
    value: Mapped[float | None] = mapped_column(Float)
    string_value: Mapped[str | None] = mapped_column(Text)  # a categorical label
    source: Mapped[str] = mapped_column(String(20))  # evaluator, api, human
    evaluator_rowid: Mapped[int | None] = mapped_column(ForeignKey("evaluators.id", ondelete="SET NULL"))
    config_version: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)  # the reasoning
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogRecord(Base):
    """An OTLP log record tied to a span (OTel GenAI message events sent as logs).

    Kept by hex ids rather than row ids because it may arrive before its span.
    """

    __tablename__ = "log_records"
    __table_args__ = (
        UniqueConstraint("project_rowid", "record_hash"),
        Index("ix_log_records_span", "project_rowid", "trace_id", "span_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_rowid: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    record_hash: Mapped[str] = mapped_column(String(40))
    event_name: Mapped[str | None] = mapped_column(String(200))
    time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    body: Mapped[Any | None] = mapped_column(JSONType)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
