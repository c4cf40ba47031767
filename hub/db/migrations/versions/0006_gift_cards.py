"""gift cards and their ledger

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 17:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gift_cards",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("initial_amount", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_gift_cards_balance")),
        sa.CheckConstraint("initial_amount > 0", name=op.f("ck_gift_cards_initial_amount")),
        sa.CheckConstraint("status IN ('ACTIVE','DISABLED')", name=op.f("ck_gift_cards_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_cards")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_gift_cards_code_hash")),
    )
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.create_index("ix_gift_cards_customer", ["customer_id"], unique=False)

    op.create_table(
        "gift_card_transactions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("gift_card_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("debit_id", BigId, nullable=True),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('ISSUE','DEBIT','REFUND','VOID')",
            name=op.f("ck_gift_card_transactions_kind"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_gift_card_transactions_amount")),
        sa.CheckConstraint("returned >= 0", name=op.f("ck_gift_card_transactions_returned")),
        sa.CheckConstraint(
            "kind <> 'DEBIT' OR returned <= -amount",
            name=op.f("ck_gift_card_transactions_returned_within_debit"),
        ),
        sa.ForeignKeyConstraint(
            ["gift_card_id"],
            ["gift_cards.id"],
            name=op.f("fk_gift_card_transactions_gift_card_id_gift_cards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["debit_id"],
            ["gift_card_transactions.id"],
            name=op.f("fk_gift_card_transactions_debit_id_gift_card_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card_transactions")),
        sa.UniqueConstraint(
            "gift_card_id", "idempotency_key", name="uq_gift_card_transactions_key"
        ),
    )
    with op.batch_alter_table("gift_card_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gift_card_transactions_card", ["gift_card_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("gift_card_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_gift_card_transactions_card")
    op.drop_table("gift_card_transactions")
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_gift_cards_customer")
    op.drop_table("gift_cards")
