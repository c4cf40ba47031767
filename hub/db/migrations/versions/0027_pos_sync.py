"""pos sync: offline till transactions (idempotency and results), their stock effects,
and the oversold state of a level (onHand below zero, flagged until a count)

Revision ID: 0027_pos_sync
Revises: 0025_till (0022_plugins before r-till was merged in)
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_pos_sync"
down_revision: str | None = "0025_till"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("inventory_levels") as batch:
        batch.add_column(sa.Column("oversold_since", sa.DateTime(timezone=True), nullable=True))
        batch.drop_constraint(op.f("ck_inventory_levels_on_hand"), type_="check")
        batch.create_check_constraint("on_hand", "on_hand >= 0 OR oversold_since IS NOT NULL")
    op.create_table(
        "pos_sync_transactions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("till_id", sa.String(64), nullable=False),
        sa.Column("client_txn_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('SALE','RETURN','EXCHANGE','STOCK_COUNT','CASH_MOVEMENT')",
            name=op.f("ck_pos_sync_transactions_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('ACCEPTED','ACCEPTED_WITH_CONFLICTS')",
            name=op.f("ck_pos_sync_transactions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"],
            name=op.f("fk_pos_sync_transactions_location_id_locations"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"],
            name=op.f("fk_pos_sync_transactions_order_id_orders"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_sync_transactions")),
        sa.UniqueConstraint(
            "location_id", "till_id", "client_txn_id", name=op.f("uq_pos_sync_txn")
        ),
    )  # fmt: skip
    op.create_table(
        "pos_sync_stock",
        sa.Column("id", BigId, nullable=False),
        sa.Column("sync_id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("variant_id", BigId, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('MOVE','COUNT')", name=op.f("ck_pos_sync_stock_kind")),
        sa.ForeignKeyConstraint(
            ["sync_id"], ["pos_sync_transactions.id"],
            name=op.f("fk_pos_sync_stock_sync_id_pos_sync_transactions"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"],
            name=op.f("fk_pos_sync_stock_location_id_locations"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"], ["variants.id"],
            name=op.f("fk_pos_sync_stock_variant_id_variants"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_sync_stock")),
    )  # fmt: skip
    op.create_index(
        "ix_pos_sync_stock_level", "pos_sync_stock", ["location_id", "variant_id", "occurred_at"]
    )
    op.create_index(op.f("ix_pos_sync_stock_sync_id"), "pos_sync_stock", ["sync_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pos_sync_stock_sync_id"), table_name="pos_sync_stock")
    op.drop_index("ix_pos_sync_stock_level", table_name="pos_sync_stock")
    op.drop_table("pos_sync_stock")
    op.drop_table("pos_sync_transactions")
    with op.batch_alter_table("inventory_levels") as batch:
        batch.drop_constraint(op.f("ck_inventory_levels_on_hand"), type_="check")
        batch.create_check_constraint("on_hand", "on_hand >= 0")
        batch.drop_column("oversold_since")
