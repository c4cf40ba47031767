"""returns: the replacement lines of an exchange (what the new order will hold)

Revision ID: 0011c_returns_exchange
Revises: 0011b_routing (the order book's migrations in one chain: 0011, 0011a, 0011b,
0011c)
Create Date: 2026-12-03 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011c_returns_exchange"
down_revision: str | None = "0011b_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("returns") as batch:
        batch.add_column(sa.Column("exchange_lines", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("returns") as batch:
        batch.drop_column("exchange_lines")
