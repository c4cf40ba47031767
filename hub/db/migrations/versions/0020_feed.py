"""feed row hashes: what a file feed (or any connector) imported per row, for
incremental re-imports

Revision ID: 0020_feed
Revises: 0019_connectors
Create Date: 2026-12-03 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_feed"
down_revision: str | None = "0019_connectors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_row_hashes",
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "key", name=op.f("pk_feed_row_hashes")),
    )


def downgrade() -> None:
    op.drop_table("feed_row_hashes")
