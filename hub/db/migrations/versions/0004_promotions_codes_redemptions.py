"""promotions, discount codes, redemptions and budgets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", Id, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("per_customer_limit", sa.Integer(), nullable=True),
        sa.Column("budget", sa.BigInteger(), nullable=True),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("times_used", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("method IN ('AUTOMATIC','CODE')", name=op.f("ck_promotions_method")),
        sa.CheckConstraint(
            "status IN ('ACTIVE','PAUSED','ARCHIVED')", name=op.f("ck_promotions_status")
        ),
        sa.CheckConstraint("budget IS NULL OR budget >= 0", name=op.f("ck_promotions_budget")),
        sa.CheckConstraint(
            "budget IS NULL OR currency IS NOT NULL", name=op.f("ck_promotions_budget_currency")
        ),
        sa.CheckConstraint(
            "budget IS NULL OR spent <= budget", name=op.f("ck_promotions_spent_within_budget")
        ),
        sa.CheckConstraint(
            "per_customer_limit IS NULL OR per_customer_limit >= 1",
            name=op.f("ck_promotions_per_customer"),
        ),
        sa.CheckConstraint("spent >= 0", name=op.f("ck_promotions_spent")),
        sa.CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at",
            name=op.f("ck_promotions_window"),
        ),
        sa.CheckConstraint("times_used >= 0", name=op.f("ck_promotions_times_used")),
        sa.CheckConstraint(
            "usage_limit IS NULL OR times_used <= usage_limit",
            name=op.f("ck_promotions_uses_within_limit"),
        ),
        sa.CheckConstraint(
            "usage_limit IS NULL OR usage_limit >= 1", name=op.f("ck_promotions_usage_limit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
    )
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.create_index("ix_promotions_status_method", ["status", "method"], unique=False)

    op.create_table(
        "discount_codes",
        sa.Column("id", Id, nullable=False),
        sa.Column("promotion_id", Id, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("display_code", sa.String(length=64), nullable=False),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("times_used", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("times_used >= 0", name=op.f("ck_discount_codes_times_used")),
        sa.CheckConstraint(
            "usage_limit IS NULL OR times_used <= usage_limit",
            name=op.f("ck_discount_codes_uses_within_limit"),
        ),
        sa.CheckConstraint(
            "usage_limit IS NULL OR usage_limit >= 1", name=op.f("ck_discount_codes_usage_limit")
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_discount_codes_promotion_id_promotions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_discount_codes_code")),
    )
    with op.batch_alter_table("discount_codes", schema=None) as batch_op:
        batch_op.create_index("ix_discount_codes_promotion", ["promotion_id", "id"], unique=False)

    op.create_table(
        "promotion_customer_usage",
        sa.Column("promotion_id", Id, nullable=False),
        sa.Column("customer_key", sa.String(length=320), nullable=False),
        sa.Column("times_used", sa.Integer(), nullable=False),
        sa.CheckConstraint("times_used >= 0", name=op.f("ck_promotion_customer_usage_times_used")),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_customer_usage_promotion_id_promotions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "promotion_id", "customer_key", name=op.f("pk_promotion_customer_usage")
        ),
    )
    op.create_table(
        "promotion_redemptions",
        sa.Column("id", Id, nullable=False),
        sa.Column("promotion_id", Id, nullable=False),
        sa.Column("code_id", Id, nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("order_ref", sa.String(length=128), nullable=False),
        sa.Column("customer_key", sa.String(length=320), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_promotion_redemptions_amount")),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["discount_codes.id"],
            name=op.f("fk_promotion_redemptions_code_id_discount_codes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_redemptions_promotion_id_promotions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_redemptions")),
    )
    with op.batch_alter_table("promotion_redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_promotion_redemptions_order", ["order_ref"], unique=False)
        batch_op.create_index(
            "ix_promotion_redemptions_promotion", ["promotion_id", "id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("promotion_redemptions")
    op.drop_table("promotion_customer_usage")
    op.drop_table("discount_codes")
    op.drop_table("promotions")
