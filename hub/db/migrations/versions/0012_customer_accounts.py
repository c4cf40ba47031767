"""customer accounts: passwords, tokens, addresses, marketing consents; guest order status tokens

Revision ID: 0012_customer_accounts
Revises: 0010_checkout_safety
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_customer_accounts"
down_revision: str | None = "0011c_returns_exchange"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_accounts",
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("email_verified_at", When, nullable=True),
        sa.Column("password_changed_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.CheckConstraint(
            "state IN ('INVITED','ENABLED','DISABLED')", name=op.f("ck_customer_accounts_state")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_accounts_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_accounts")),
    )
    op.create_table(
        "customer_tokens",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("ended_at", When, nullable=True),
        sa.CheckConstraint(
            "kind IN ('access','reset','activation')", name=op.f("ck_customer_tokens_kind")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_tokens_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_customer_tokens_token_hash")),
    )
    op.create_index("ix_customer_tokens_customer", "customer_tokens", ["customer_id", "kind"])
    op.create_table(
        "customer_addresses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_addresses_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_addresses")),
    )
    op.create_index("ix_customer_addresses_customer", "customer_addresses", ["customer_id", "id"])
    op.create_table(
        "customer_consents",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("topic", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", When, nullable=False),
        sa.CheckConstraint("topic IN ('EMAIL','SMS')", name=op.f("ck_customer_consents_topic")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_consents_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_consents")),
    )
    op.create_index("ix_customer_consents_customer", "customer_consents", ["customer_id", "id"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("status_token_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_orders_status_token_hash"), ["status_token_hash"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("uq_orders_status_token_hash"), type_="unique")
        batch.drop_column("status_token_hash")
    op.drop_table("customer_consents")
    op.drop_table("customer_addresses")
    op.drop_table("customer_tokens")
    op.drop_table("customer_accounts")
