"""crash-safe checkout: attempt leases, payments recorded before they are taken, test payments

Revision ID: 0010_checkout_safety
Revises: 0009_bus
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_checkout_safety"
down_revision: str | None = "0009_bus"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "checkout_payments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("cart_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt_key", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("payment_method", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("intent_id", sa.String(length=255), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_checkout_payments_amount")),
        sa.CheckConstraint(
            "status IN ('PENDING','AUTHORIZED','USED','RELEASED','FAILED')",
            name=op.f("ck_checkout_payments_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_payments")),
        sa.UniqueConstraint("provider_key", name=op.f("uq_checkout_payments_provider_key")),
    )
    with op.batch_alter_table("checkout_payments") as batch:
        batch.create_index("ix_checkout_payments_cart", ["cart_id", "status"], unique=False)
        batch.create_index("ix_checkout_payments_open", ["status", "updated_at"], unique=False)
    with op.batch_alter_table("checkout_attempts") as batch:
        batch.add_column(sa.Column("lease", sa.String(length=32), nullable=True))
    with op.batch_alter_table("carts") as batch:
        batch.add_column(sa.Column("checkout_lease", sa.String(length=32), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("gift_card_transactions") as batch:
        batch.create_index(
            "ix_gift_card_transactions_idempotency_key", ["idempotency_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("gift_card_transactions") as batch:
        batch.drop_index("ix_gift_card_transactions_idempotency_key")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("test")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("test")
    with op.batch_alter_table("carts") as batch:
        batch.drop_column("checkout_lease")
    with op.batch_alter_table("checkout_attempts") as batch:
        batch.drop_column("lease")
    op.drop_table("checkout_payments")
