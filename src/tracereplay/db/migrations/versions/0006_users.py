"""users, project_members: dashboard sign-in

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import tracereplay.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("session_nonce", sa.String(length=32), nullable=False),
        sa.Column("created_at", tracereplay.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "project_members",
        sa.Column("user_rowid", sa.Integer(), nullable=False),
        sa.Column("project_rowid", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_rowid"],
            ["projects.id"],
            name=op.f("fk_project_members_project_rowid_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_rowid"], ["users.id"], name=op.f("fk_project_members_user_rowid_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_rowid", "project_rowid", name=op.f("pk_project_members")),
    )
    op.create_index(
        op.f("ix_project_members_project_rowid"), "project_members", ["project_rowid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_project_members_project_rowid"), table_name="project_members")
    op.drop_table("project_members")
    op.drop_table("users")
