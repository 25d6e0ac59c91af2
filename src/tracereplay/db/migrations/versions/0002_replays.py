"""replays

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import tracereplay.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replay_id", sa.String(length=32), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.Column("source_trace_rowid", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "overrides",
            tracereplay.db.types.JSONType,
            nullable=False,
        ),
        sa.Column("llm_spans_total", sa.Integer(), nullable=False),
        sa.Column("llm_spans_done", sa.Integer(), nullable=False),
        sa.Column("llm_spans_failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result_trace_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_replays_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_trace_rowid"],
            ["traces.id"],
            name=op.f("fk_replays_source_trace_rowid_traces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replays")),
        sa.UniqueConstraint("replay_id", name=op.f("uq_replays_replay_id")),
    )
    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.create_index("ix_replays_source", ["source_trace_rowid", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_replays_status"), ["status"], unique=False)

    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replay_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.drop_column("replay_id")

    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replays_status"))
        batch_op.drop_index("ix_replays_source")

    op.drop_table("replays")
