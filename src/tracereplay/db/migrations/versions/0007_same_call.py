"""spans.same_call_as, spans.recorded_by: one LLM call recorded by two spans counts once

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.add_column(sa.Column("same_call_as", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("recorded_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.drop_column("recorded_by")
        batch.drop_column("same_call_as")
