"""backorders: variants' inventory policy (DENY, BACKORDER, PREORDER) and the units
sold beyond stock, allocated in order when stock is received

Revision ID: 0028_backorders
Revises: 0027_pos_sync
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_backorders"
down_revision: str | None = "0027_pos_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "variant_inventory_policies",
        sa.Column("variant_id", BigId, nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("expected_on", sa.Date(), nullable=True),
        sa.Column("backorder_limit", sa.Integer(), nullable=True),
        sa.Column("backordered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("policy IN ('DENY','BACKORDER','PREORDER')", name="policy"),
        sa.CheckConstraint("backorder_limit IS NULL OR backorder_limit >= 0", name="limit"),
        sa.CheckConstraint("backordered >= 0", name="backordered"),
        sa.ForeignKeyConstraint(["variant_id"], ["variants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("variant_id"),
    )
    op.create_table(
        "backorders",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("variant_id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("order_line_id", BigId, nullable=False),
        sa.Column("fulfillment_order_id", BigId, nullable=True),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("quantity_allocated", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('OPEN','ALLOCATED','CANCELLED')", name="status"),
        sa.CheckConstraint("quantity > 0", name="quantity"),
        sa.CheckConstraint(
            "quantity_allocated >= 0 AND quantity_allocated <= quantity", name="allocated"
        ),
        sa.ForeignKeyConstraint(["variant_id"], ["variants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["order_line_id"], ["order_lines.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["fulfillment_order_id"], ["fulfillment_orders.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_backorders_queue", "backorders", ["variant_id", "location_id", "status", "id"]
    )
    op.create_index("ix_backorders_order", "backorders", ["order_id"])
    # Endless aisle: a pickup taken from another location and transferred to the store.
    with op.batch_alter_table("cart_delivery_groups") as batch:
        batch.add_column(
            sa.Column("transfer_in", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("fulfillment_orders") as batch:
        batch.add_column(sa.Column("pickup_location_id", BigId, nullable=True))
        batch.create_foreign_key(
            "fk_fulfillment_orders_pickup_location_id_locations",
            "locations",
            ["pickup_location_id"],
            ["id"],
        )
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("fulfillment_order_id", BigId, nullable=True))
        batch.create_foreign_key(
            "fk_transfers_fulfillment_order_id_fulfillment_orders",
            "fulfillment_orders",
            ["fulfillment_order_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.drop_constraint(
            "fk_transfers_fulfillment_order_id_fulfillment_orders", type_="foreignkey"
        )
        batch.drop_column("fulfillment_order_id")
    with op.batch_alter_table("fulfillment_orders") as batch:
        batch.drop_constraint(
            "fk_fulfillment_orders_pickup_location_id_locations", type_="foreignkey"
        )
        batch.drop_column("pickup_location_id")
    with op.batch_alter_table("cart_delivery_groups") as batch:
        batch.drop_column("transfer_in")
    op.drop_index("ix_backorders_order", table_name="backorders")
    op.drop_index("ix_backorders_queue", table_name="backorders")
    op.drop_table("backorders")
    op.drop_table("variant_inventory_policies")
