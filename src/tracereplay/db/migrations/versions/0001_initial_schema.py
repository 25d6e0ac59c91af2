"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tracereplay.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_api_keys_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_project_rowid"), ["project_rowid"], unique=False)

    op.create_table(
        "log_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("record_hash", sa.String(length=40), nullable=False),
        sa.Column("event_name", sa.String(length=200), nullable=True),
        sa.Column("time", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("attributes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_log_records_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_records")),
        sa.UniqueConstraint(
            "project_rowid", "record_hash", name=op.f("uq_log_records_project_rowid_record_hash")
        ),
    )
    with op.batch_alter_table("log_records", schema=None) as batch_op:
        batch_op.create_index("ix_log_records_span", ["project_rowid", "trace_id", "span_id"], unique=False)

    op.create_table(
        "traces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("session_id", sa.String(length=500), nullable=True),
        sa.Column("user_id", sa.String(length=500), nullable=True),
        sa.Column("environment", sa.String(length=200), nullable=True),
        sa.Column("metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("start_time", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_time", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("llm_span_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("source_trace_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_traces_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traces")),
        sa.UniqueConstraint("project_rowid", "trace_id", name=op.f("uq_traces_project_rowid_trace_id")),
    )
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.create_index("ix_traces_project_start", ["project_rowid", "start_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_traces_session_id"), ["session_id"], unique=False)

    op.create_table(
        "spans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_rowid", sa.Integer(), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("start_time", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_time", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.String(length=10), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("service_name", sa.String(length=200), nullable=True),
        sa.Column("attributes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("events", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column(
            "invocation_parameters", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("input_messages", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("output_messages", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("tools", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("prompt_template", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.ForeignKeyConstraint(
            ["trace_rowid"], ["traces.id"], name=op.f("fk_spans_trace_rowid_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spans")),
        sa.UniqueConstraint("trace_rowid", "span_id", name=op.f("uq_spans_trace_rowid_span_id")),
    )
    op.create_table(
        "trace_tags",
        sa.Column("trace_rowid", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_rowid"], ["traces.id"], name=op.f("fk_trace_tags_trace_rowid_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trace_rowid", "tag", name=op.f("pk_trace_tags")),
    )
    with op.batch_alter_table("trace_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_rowid", sa.Integer(), nullable=False),
        sa.Column("span_rowid", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("string_value", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["span_rowid"], ["spans.id"], name=op.f("fk_scores_span_rowid_spans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["trace_rowid"], ["traces.id"], name=op.f("fk_scores_trace_rowid_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scores_trace_rowid"), ["trace_rowid"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scores_trace_rowid"))

    op.drop_table("scores")
    with op.batch_alter_table("trace_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_tags_tag"))

    op.drop_table("trace_tags")
    op.drop_table("spans")
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traces_session_id"))
        batch_op.drop_index("ix_traces_project_start")

    op.drop_table("traces")
    with op.batch_alter_table("log_records", schema=None) as batch_op:
        batch_op.drop_index("ix_log_records_span")

    op.drop_table("log_records")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_project_rowid"))

    op.drop_table("api_keys")
    op.drop_table("projects")
