"""evaluators, evaluator_configs; scores by evaluator and configuration version; replays.evaluated_at

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tracereplay.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "evaluators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("config_version", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("target", sa.String(length=10), nullable=False),
        sa.Column("sampling_rate", sa.Float(), nullable=False),
        sa.Column("filter", JSON, nullable=True),
        sa.Column("scanned_until", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("scanned_rowid", sa.Integer(), nullable=True),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_evaluators_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluators")),
        sa.UniqueConstraint("project_rowid", "name", name=op.f("uq_evaluators_project_rowid_name")),
    )
    op.create_table(
        "evaluator_configs",
        sa.Column("evaluator_rowid", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluator_rowid"],
            ["evaluators.id"],
            name=op.f("fk_evaluator_configs_evaluator_rowid_evaluators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("evaluator_rowid", "version", name=op.f("pk_evaluator_configs")),
    )
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.create_index(
            "ix_traces_project_updated", ["project_rowid", "updated_at", "id"], unique=False
        )

    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("evaluated_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=True)
        )
    # Replays finished before evaluators existed count as evaluated, not as a backlog.
    op.execute("UPDATE replays SET evaluated_at = finished_at WHERE status = 'COMPLETED'")

    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_type", sa.String(length=12), server_default="numeric", nullable=False)
        )
        batch_op.add_column(sa.Column("evaluator_rowid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("config_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("details", JSON, nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_scores_trace_rowid_evaluator_rowid_config_version"),
            ["trace_rowid", "evaluator_rowid", "config_version"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_scores_evaluator_rowid_evaluators"),
            "evaluators",
            ["evaluator_rowid"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_scores_evaluator_rowid_evaluators"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("uq_scores_trace_rowid_evaluator_rowid_config_version"), type_="unique"
        )
        batch_op.drop_column("error")
        batch_op.drop_column("details")
        batch_op.drop_column("config_version")
        batch_op.drop_column("evaluator_rowid")
        batch_op.drop_column("data_type")

    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.drop_column("evaluated_at")

    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.drop_index("ix_traces_project_updated")

    op.drop_table("evaluator_configs")
    op.drop_table("evaluators")
