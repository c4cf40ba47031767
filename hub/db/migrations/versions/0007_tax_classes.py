"""tax class per product; orders by email (a guest's first order)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 17:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("tax_class", sa.String(length=64), server_default="standard", nullable=False),
    )
    op.create_index("ix_orders_email", "orders", ["email"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_email", table_name="orders")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("tax_class")
