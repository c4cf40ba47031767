"""fulfillment orders: when the location accepted it, the status a hold came from, and
why it was cancelled (expired pickup, cancelled order); the pickup-expiry job's index

Revision ID: 0011b_routing
Revises: 0011a_order_money (re-chained after merging r-ordermoney; on its own it followed 0011_order_book)
Create Date: 2026-12-03 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db.models.base import UTCDateTime

revision: str = "0011b_routing"
down_revision: str | None = "0011a_order_money"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fulfillment_orders") as b:
        b.add_column(sa.Column("accepted_at", UTCDateTime(), nullable=True))
        b.add_column(sa.Column("held_from", sa.String(24), nullable=True))
        b.add_column(sa.Column("cancel_reason", sa.String(64), nullable=True))
    op.create_index(
        "ix_fulfillment_orders_pickup_deadline",
        "fulfillment_orders",
        ["status", "pickup_deadline"],
    )


def downgrade() -> None:
    op.drop_index("ix_fulfillment_orders_pickup_deadline", table_name="fulfillment_orders")
    with op.batch_alter_table("fulfillment_orders") as b:
        b.drop_column("cancel_reason")
        b.drop_column("held_from")
        b.drop_column("accepted_at")
