"""model_prices: per-project price overrides

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import tracereplay.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.Column("model_pattern", sa.String(length=200), nullable=False),
        sa.Column("input_per_mtok", sa.Float(), nullable=False),
        sa.Column("output_per_mtok", sa.Float(), nullable=False),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_model_prices_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
        sa.UniqueConstraint(
            "project_rowid", "model_pattern", name=op.f("uq_model_prices_project_rowid_model_pattern")
        ),
    )


def downgrade() -> None:
    op.drop_table("model_prices")
