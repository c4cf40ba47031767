"""persisted queries: registered GraphQL operations by id (APQ and manifests)

Revision ID: 0014_persisted_queries
Revises: 0010_checkout_safety
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_persisted_queries"
down_revision: str | None = "0013_loyalty_profiles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_queries",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("operation_name", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persisted_queries")),
    )


def downgrade() -> None:
    op.drop_table("persisted_queries")
