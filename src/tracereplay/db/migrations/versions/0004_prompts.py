"""prompt_templates, prompt_versions, prompt_labels

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tracereplay.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "prompt_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_prompt_templates_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_templates")),
        sa.UniqueConstraint("project_rowid", "name", name=op.f("uq_prompt_templates_project_rowid_name")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("template_rowid", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("config", JSON, nullable=True),
        sa.Column("commit_message", sa.Text(), nullable=True),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_rowid"],
            ["prompt_templates.id"],
            name=op.f("fk_prompt_versions_template_rowid_prompt_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint(
            "template_rowid", "version", name=op.f("uq_prompt_versions_template_rowid_version")
        ),
        sa.UniqueConstraint("version_id", name=op.f("uq_prompt_versions_version_id")),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("template_rowid", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("version_rowid", sa.Integer(), nullable=False),
        sa.Column("updated_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_rowid"],
            ["prompt_templates.id"],
            name=op.f("fk_prompt_labels_template_rowid_prompt_templates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_rowid"],
            ["prompt_versions.id"],
            name=op.f("fk_prompt_labels_version_rowid_prompt_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("template_rowid", "label", name=op.f("pk_prompt_labels")),
    )


def downgrade() -> None:
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompt_templates")
