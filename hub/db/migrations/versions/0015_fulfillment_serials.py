"""fulfillment serials: the serial numbers each fulfillment line took out of stock, and
the state of an expired pickup's refund (retried by the pickup-expiry job)

Revision ID: 0015_fulfillment_serials
Revises: 0014_persisted_queries
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_fulfillment_serials"
down_revision: str | None = "0014_persisted_queries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fulfillment_lines") as batch:
        batch.add_column(sa.Column("serial_numbers", sa.JSON(), nullable=True))
    with op.batch_alter_table("fulfillment_orders") as batch:
        batch.add_column(sa.Column("expiry_refund", sa.String(length=16), nullable=True))
    op.create_index("ix_fulfillment_orders_expiry_refund", "fulfillment_orders", ["expiry_refund"])


def downgrade() -> None:
    op.drop_index("ix_fulfillment_orders_expiry_refund", table_name="fulfillment_orders")
    with op.batch_alter_table("fulfillment_orders") as batch:
        batch.drop_column("expiry_refund")
    with op.batch_alter_table("fulfillment_lines") as batch:
        batch.drop_column("serial_numbers")
