"""loyalty accounts, ledger and tiers; the customer timeline; one profile across
channels (phone key, merges, erasure, marketing consent); order source; channel
loyalty settings; points redeemed on carts and orders

Revision ID: 0013_loyalty_profiles
Revises: 0010_checkout_safety
Create Date: 2026-12-03 14:30:00
"""

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013_loyalty_profiles"
down_revision: str | None = "0012_customer_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "loyalty_accounts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("card_id", sa.String(length=32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("tier_override", sa.String(length=64), nullable=True),
        sa.Column("last_activity_at", When, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.CheckConstraint("points >= 0", name=op.f("ck_loyalty_accounts_points")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_loyalty_accounts_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_accounts")),
        sa.UniqueConstraint("card_id", name=op.f("uq_loyalty_accounts_card_id")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_loyalty_accounts_customer_id")),
    )
    op.create_table(
        "loyalty_transactions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("reversed_points", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint(
            "kind IN ('EARN','REDEEM','EXPIRE','ADJUST','REVERSE','MERGE')",
            name=op.f("ck_loyalty_transactions_kind"),
        ),
        sa.CheckConstraint("points <> 0", name=op.f("ck_loyalty_transactions_points")),
        sa.CheckConstraint(
            "reversed_points >= 0", name=op.f("ck_loyalty_transactions_reversed_points")
        ),
        sa.CheckConstraint(
            "kind <> 'EARN' OR reversed_points <= points",
            name=op.f("ck_loyalty_transactions_reversed_within_earn"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_transactions_account_id_loyalty_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_transactions")),
        sa.UniqueConstraint("account_id", "idempotency_key", name="uq_loyalty_transactions_key"),
    )
    with op.batch_alter_table("loyalty_transactions") as batch:
        batch.create_index("ix_loyalty_transactions_account", ["account_id", "id"], unique=False)
        batch.create_index("ix_loyalty_transactions_order", ["order_id"], unique=False)
    op.create_table(
        "loyalty_tiers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("handle", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint("basis IN ('POINTS','SPEND')", name=op.f("ck_loyalty_tiers_basis")),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_loyalty_tiers_threshold")),
        sa.CheckConstraint("window_days > 0", name=op.f("ck_loyalty_tiers_window_days")),
        sa.CheckConstraint(
            "basis <> 'SPEND' OR currency IS NOT NULL",
            name=op.f("ck_loyalty_tiers_spend_currency"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_tiers")),
        sa.UniqueConstraint("handle", name=op.f("uq_loyalty_tiers_handle")),
    )
    op.create_table(
        "customer_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_events")),
        sa.UniqueConstraint("customer_id", "idempotency_key", name="uq_customer_events_key"),
    )
    with op.batch_alter_table("customer_events") as batch:
        batch.create_index("ix_customer_events_customer", ["customer_id", "id"], unique=False)
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("phone_key", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("accepts_marketing", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("merged_into_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("erased_at", When, nullable=True))
        batch.create_index("ix_customers_phone_key", ["phone_key"], unique=False)
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("loyalty_earn_points", sa.Integer(), server_default="1", nullable=False)
        )
        batch.add_column(
            sa.Column("loyalty_earn_per", sa.Integer(), server_default="100", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "loyalty_rounding", sa.String(length=8), server_default="DOWN", nullable=False
            )
        )
        batch.add_column(
            sa.Column("loyalty_point_value", sa.Integer(), server_default="1", nullable=False)
        )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("loyalty_points", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("carts") as batch:
        batch.add_column(
            sa.Column("loyalty_points", sa.Integer(), server_default="0", nullable=False)
        )
    # The phone key of the customers there are: the digits of their phone.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, phone FROM customers WHERE phone IS NOT NULL"))
    for pk, phone in rows.all():
        conn.execute(
            sa.text("UPDATE customers SET phone_key = :k WHERE id = :id"),
            {"k": re.sub(r"\D", "", phone)[:32] or None, "id": pk},
        )
    # A tier set on a customer before loyalty existed stays, as a tier set by hand on
    # an account of its own (customers.loyalty_tier mirrors the account from now on).
    tiered = conn.execute(
        sa.text("SELECT id, loyalty_tier FROM customers WHERE loyalty_tier IS NOT NULL")
    )
    now = datetime.now(UTC)
    for pk, tier in tiered.all():
        conn.execute(
            sa.text(
                "INSERT INTO loyalty_accounts (customer_id, card_id, points, tier_override, "
                "last_activity_at, created_at, updated_at) "
                "VALUES (:c, :card, 0, :t, :now, :now, :now)"
            ),
            {"c": pk, "card": "LC" + f"{secrets.randbelow(10**12):012d}", "t": tier, "now": now},
        )


def downgrade() -> None:
    with op.batch_alter_table("carts") as batch:
        batch.drop_column("loyalty_points")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("loyalty_points")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("loyalty_point_value")
        batch.drop_column("loyalty_rounding")
        batch.drop_column("loyalty_earn_per")
        batch.drop_column("loyalty_earn_points")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_phone_key")
        batch.drop_column("erased_at")
        batch.drop_column("merged_into_id")
        batch.drop_column("accepts_marketing")
        batch.drop_column("phone_key")
    with op.batch_alter_table("customer_events") as batch:
        batch.drop_index("ix_customer_events_customer")
    op.drop_table("customer_events")
    op.drop_table("loyalty_tiers")
    with op.batch_alter_table("loyalty_transactions") as batch:
        batch.drop_index("ix_loyalty_transactions_order")
        batch.drop_index("ix_loyalty_transactions_account")
    op.drop_table("loyalty_transactions")
    op.drop_table("loyalty_accounts")
