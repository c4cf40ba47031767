"""order money after checkout: each order transaction's provider idempotency key
(unique per order) and when it was last updated (a PENDING row settled)

Revision ID: 0011a_order_money
Revises: 0011_order_book
Create Date: 2026-12-03 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db.models.base import UTCDateTime

revision: str = "0011a_order_money"
down_revision: str | None = "0011_order_book"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_transactions") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("updated_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index(
        "uq_order_transactions_key",
        "order_transactions",
        ["order_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_order_transactions_key", table_name="order_transactions")
    with op.batch_alter_table("order_transactions") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("idempotency_key")
