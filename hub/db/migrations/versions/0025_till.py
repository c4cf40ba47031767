"""till: tills, staff PINs, till sessions and their cash movements, orders sold at a
till, and till-bound staff tokens (issue 14)

Revision ID: 0025_till
Revises: 0022_plugins
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_till"
down_revision: str | None = "0022_plugins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tills",
        sa.Column("id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_tills_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tills")),
        sa.UniqueConstraint("location_id", "code", name=op.f("uq_tills_location_id")),
    )
    op.create_index(op.f("ix_tills_location_id"), "tills", ["location_id"])
    op.create_table(
        "staff_pins",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=False),
        sa.Column("location_ids", sa.JSON(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", When, nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_pins_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_staff_pins")),
    )
    op.create_table(
        "till_sessions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("till_id", BigId, nullable=False),
        sa.Column("open_till_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("opening_float", sa.BigInteger(), nullable=False),
        sa.Column("opened_by", BigId, nullable=True),
        sa.Column("closed_by", BigId, nullable=True),
        sa.Column("expected_cash", sa.BigInteger(), nullable=True),
        sa.Column("counted_cash", sa.BigInteger(), nullable=True),
        sa.Column("over_short", sa.BigInteger(), nullable=True),
        sa.Column("opened_at", When, nullable=False),
        sa.Column("closed_at", When, nullable=True),
        sa.CheckConstraint("status IN ('OPEN','CLOSED')", name=op.f("ck_till_sessions_status")),
        sa.ForeignKeyConstraint(
            ["till_id"], ["tills.id"], name=op.f("fk_till_sessions_till_id_tills")
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["staff_users.id"],
            name=op.f("fk_till_sessions_opened_by_staff_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"],
            ["staff_users.id"],
            name=op.f("fk_till_sessions_closed_by_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_till_sessions")),
        sa.UniqueConstraint("open_till_id", name=op.f("uq_till_sessions_open_till_id")),
    )
    op.create_index("ix_till_sessions_till", "till_sessions", ["till_id", "id"])
    op.create_table(
        "till_cash_movements",
        sa.Column("id", BigId, nullable=False),
        sa.Column("till_id", BigId, nullable=False),
        sa.Column("session_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("client_txn_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("staff_user_id", BigId, nullable=True),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint(
            "kind IN ('FLOAT','SALE_CASH','CHANGE','REFUND_CASH','CASH_IN','CASH_OUT')",
            name=op.f("ck_till_cash_movements_kind"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_till_cash_movements_amount")),
        sa.ForeignKeyConstraint(
            ["till_id"], ["tills.id"], name=op.f("fk_till_cash_movements_till_id_tills")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["till_sessions.id"],
            name=op.f("fk_till_cash_movements_session_id_till_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_till_cash_movements_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_till_cash_movements_staff_user_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_till_cash_movements")),
        sa.UniqueConstraint(
            "till_id", "client_txn_id", name=op.f("uq_till_cash_movements_till_id")
        ),
    )
    op.create_index("ix_till_cash_movements_session", "till_cash_movements", ["session_id", "id"])
    op.create_index(op.f("ix_till_cash_movements_order_id"), "till_cash_movements", ["order_id"])
    op.create_table(
        "till_orders",
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("till_id", BigId, nullable=False),
        sa.Column("session_id", BigId, nullable=True),
        sa.Column("staff_user_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_till_orders_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["till_id"], ["tills.id"], name=op.f("fk_till_orders_till_id_tills")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["till_sessions.id"],
            name=op.f("fk_till_orders_session_id_till_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_till_orders_staff_user_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_till_orders")),
    )
    op.create_index(op.f("ix_till_orders_till_id"), "till_orders", ["till_id"])
    with op.batch_alter_table("staff_tokens") as batch:
        batch.add_column(sa.Column("till_id", BigId, nullable=True))
        batch.create_foreign_key(
            op.f("fk_staff_tokens_till_id_tills"),
            "tills",
            ["till_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_tokens") as batch:
        batch.drop_constraint(op.f("fk_staff_tokens_till_id_tills"), type_="foreignkey")
        batch.drop_column("till_id")
    op.drop_table("till_orders")
    op.drop_table("till_cash_movements")
    op.drop_table("till_sessions")
    op.drop_table("staff_pins")
    op.drop_table("tills")
