"""the order book after checkout: timeline, transactions, fulfillment orders and
fulfillments, substitutions, refunds, returns; channel capture/routing/return settings,
per-location pickup windows; imported orders (source, external id)

Revision ID: 0011_order_book
Revises: 0010_checkout_safety
Create Date: 2026-12-03 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db.models.base import UTCDateTime

revision: str = "0011_order_book"
down_revision: str | None = "0010_checkout_safety"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PAYMENT_STATUSES = (
    "PENDING",
    "AUTHORIZED",
    "PARTIALLY_PAID",
    "PAID",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "VOIDED",
    "FAILED",
)
OLD_PAYMENT_STATUSES = tuple(s for s in PAYMENT_STATUSES if s != "PARTIALLY_PAID")
FULFILLMENT_STATUSES = (
    "UNFULFILLED",
    "PARTIALLY_FULFILLED",
    "FULFILLED",
    "PARTIALLY_RETURNED",
    "RETURNED",
)
FO_STATUSES = ("OPEN", "IN_PROGRESS", "READY_FOR_PICKUP", "FULFILLED", "CANCELLED", "ON_HOLD")
RETURN_STATUSES = (
    "REQUESTED",
    "OPEN",
    "PARTIALLY_RECEIVED",
    "RECEIVED",
    "CLOSED",
    "DECLINED",
    "CANCELLED",
)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN (" + ",".join(f"'{v}'" for v in values) + ")"


def _id() -> sa.Column:
    return sa.Column("id", BigId, nullable=False)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def _fk(name: str, table: str, *, nullable: bool = False, ondelete: str | None = None) -> sa.Column:
    return sa.Column(
        name, BigId, sa.ForeignKey(f"{table}.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("capture_mode", sa.String(16), server_default="AT_CHECKOUT", nullable=False)
        )
        batch.add_column(
            sa.Column("routing_strategy", sa.String(24), server_default="DEFAULT", nullable=False)
        )
        batch.add_column(
            sa.Column("return_window_days", sa.Integer(), server_default="30", nullable=False)
        )
    with op.batch_alter_table("locations") as batch:
        batch.add_column(
            sa.Column("pickup_window_hours", sa.Integer(), server_default="72", nullable=False)
        )
    with op.batch_alter_table("order_lines") as batch:
        for name in ("fulfilled", "cancelled", "returned", "refunded"):
            batch.add_column(
                sa.Column(f"quantity_{name}", sa.Integer(), server_default="0", nullable=False)
            )
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_payment_status"), type_="check")
        batch.create_check_constraint("payment_status", _in("payment_status", PAYMENT_STATUSES))
        batch.create_check_constraint(
            "fulfillment_status", _in("fulfillment_status", FULFILLMENT_STATUSES)
        )
        batch.add_column(sa.Column("source", sa.String(32), server_default="web", nullable=False))
        batch.add_column(sa.Column("external_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("location_id", BigId, nullable=True))
        batch.add_column(sa.Column("routing", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("cancel_reason", sa.String(255), nullable=True))
        batch.add_column(_at("cancelled_at", True))
        batch.add_column(_at("closed_at", True))
        batch.create_foreign_key(
            "fk_orders_location_id_locations", "locations", ["location_id"], ["id"]
        )
        batch.create_unique_constraint("uq_orders_source_external", ["source", "external_id"])
        batch.create_index("ix_orders_created", ["created_at", "id"])
        batch.create_index("ix_orders_status", ["status", "id"])

    op.create_table(
        "order_events",
        _id(),
        _fk("order_id", "orders", ondelete="CASCADE"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    op.create_index("ix_order_events_order", "order_events", ["order_id", "id"])

    op.create_table(
        "fulfillment_orders",
        _id(),
        _fk("order_id", "orders", ondelete="CASCADE"),
        _fk("location_id", "locations"),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("delivery_kind", sa.String(16), nullable=False),
        sa.Column("routing_reason", sa.Text(), nullable=False),
        sa.Column("hold_reason", sa.String(255), nullable=True),
        _at("pickup_deadline", True),
        _at("ready_at", True),
        _at("customer_arrived_at", True),
        sa.Column("arrival_note", sa.String(255), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(_in("status", FO_STATUSES), name=op.f("ck_fulfillment_orders_status")),
        sa.CheckConstraint(
            _in("delivery_kind", ("SHIPPING", "PICKUP")),
            name=op.f("ck_fulfillment_orders_delivery_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillment_orders")),
    )
    op.create_index("ix_fulfillment_orders_order", "fulfillment_orders", ["order_id", "id"])
    op.create_index(
        "ix_fulfillment_orders_location", "fulfillment_orders", ["location_id", "status"]
    )

    op.create_table(
        "fulfillment_order_lines",
        _id(),
        _fk("fulfillment_order_id", "fulfillment_orders", ondelete="CASCADE"),
        _fk("order_line_id", "order_lines", ondelete="CASCADE"),
        _fk("variant_id", "variants", nullable=True, ondelete="SET NULL"),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("quantity_fulfilled", sa.Integer(), nullable=False),
        sa.Column("quantity_cancelled", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_fulfillment_order_lines_quantity")),
        sa.CheckConstraint(
            "quantity_fulfilled >= 0 AND quantity_cancelled >= 0 "
            "AND quantity_fulfilled + quantity_cancelled <= quantity",
            name=op.f("ck_fulfillment_order_lines_progress"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillment_order_lines")),
    )
    op.create_index(
        "ix_fulfillment_order_lines_fo", "fulfillment_order_lines", ["fulfillment_order_id", "id"]
    )

    op.create_table(
        "fulfillments",
        _id(),
        _fk("order_id", "orders", ondelete="CASCADE"),
        _fk("fulfillment_order_id", "fulfillment_orders"),
        _fk("location_id", "locations"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("tracking_number", sa.String(128), nullable=True),
        sa.Column("tracking_url", sa.String(1024), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(_in("kind", ("SHIPMENT", "PICKUP")), name=op.f("ck_fulfillments_kind")),
        sa.CheckConstraint(
            _in("status", ("SUCCESS", "CANCELLED")), name=op.f("ck_fulfillments_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillments")),
    )
    op.create_index("ix_fulfillments_order", "fulfillments", ["order_id", "id"])

    op.create_table(
        "fulfillment_lines",
        _id(),
        _fk("fulfillment_id", "fulfillments", ondelete="CASCADE"),
        _fk("fulfillment_order_line_id", "fulfillment_order_lines"),
        _fk("order_line_id", "order_lines", ondelete="CASCADE"),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_fulfillment_lines_quantity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillment_lines")),
    )
    op.create_index(
        "ix_fulfillment_lines_fulfillment", "fulfillment_lines", ["fulfillment_id", "id"]
    )

    op.create_table(
        "substitutions",
        _id(),
        _fk("order_id", "orders", ondelete="CASCADE"),
        _fk("fulfillment_order_line_id", "fulfillment_order_lines", ondelete="CASCADE"),
        sa.Column("original_variant_id", sa.BigInteger(), nullable=True),
        _fk("variant_id", "variants"),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _at("created_at"),
        _at("decided_at", True),
        sa.CheckConstraint(
            _in("status", ("PROPOSED", "APPROVED", "DECLINED", "CANCELLED")),
            name=op.f("ck_substitutions_status"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_substitutions_quantity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substitutions")),
    )
    op.create_index("ix_substitutions_order", "substitutions", ["order_id", "id"])

    op.create_table(
        "refunds",
        _id(),
        _fk("order_id", "orders", ondelete="CASCADE"),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("return_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("shipping", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(
            _in("status", ("PENDING", "SUCCESS", "FAILED")), name=op.f("ck_refunds_status")
        ),
        sa.CheckConstraint("amount >= 0 AND shipping >= 0", name=op.f("ck_refunds_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("order_id", "idempotency_key", name="uq_refunds_order_key"),
    )
    op.create_index("ix_refunds_order", "refunds", ["order_id", "id"])

    op.create_table(
        "refund_lines",
        _id(),
        _fk("refund_id", "refunds", ondelete="CASCADE"),
        _fk("order_line_id", "order_lines", ondelete="CASCADE"),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 0 AND amount >= 0", name=op.f("ck_refund_lines_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_lines")),
    )
    op.create_index("ix_refund_lines_refund", "refund_lines", ["refund_id", "id"])

    op.create_table(
        "order_transactions",
        _id(),
        _fk("order_id", "orders", ondelete="CASCADE"),
        _fk("payment_id", "payments", nullable=True),
        sa.Column("refund_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("error", sa.String(255), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        _at("created_at"),
        sa.CheckConstraint(
            _in("kind", ("AUTHORIZATION", "CAPTURE", "SALE", "VOID", "REFUND")),
            name=op.f("ck_order_transactions_kind"),
        ),
        sa.CheckConstraint(
            _in("status", ("PENDING", "SUCCESS", "FAILED")),
            name=op.f("ck_order_transactions_status"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_order_transactions_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_transactions")),
    )
    op.create_index("ix_order_transactions_order", "order_transactions", ["order_id", "id"])

    op.create_table(
        "returns",
        _id(),
        _fk("order_id", "orders", ondelete="CASCADE"),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        _fk("location_id", "locations", nullable=True),
        _fk("received_location_id", "locations", nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("refund_id", sa.BigInteger(), nullable=True),
        sa.Column("exchange_order_id", sa.BigInteger(), nullable=True),
        sa.Column("gift_card_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(_in("status", RETURN_STATUSES), name=op.f("ck_returns_status")),
        sa.CheckConstraint(_in("source", ("STAFF", "CUSTOMER")), name=op.f("ck_returns_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
    )
    op.create_index("ix_returns_order", "returns", ["order_id", "id"])
    op.create_index("ix_returns_customer", "returns", ["customer_id", "created_at"])

    op.create_table(
        "return_lines",
        _id(),
        _fk("return_id", "returns", ondelete="CASCADE"),
        _fk("order_line_id", "order_lines", ondelete="CASCADE"),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("reason_note", sa.Text(), nullable=True),
        sa.Column("serial_number", sa.String(128), nullable=True),
        sa.Column("quantity_restocked", sa.Integer(), nullable=False),
        sa.Column("quantity_quarantined", sa.Integer(), nullable=False),
        sa.Column("quantity_disposed", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_lines_quantity")),
        sa.CheckConstraint(
            "quantity_restocked + quantity_quarantined + quantity_disposed <= quantity",
            name=op.f("ck_return_lines_received"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_lines")),
    )
    op.create_index("ix_return_lines_return", "return_lines", ["return_id", "id"])


def downgrade() -> None:
    for table in (
        "return_lines",
        "returns",
        "order_transactions",
        "refund_lines",
        "refunds",
        "substitutions",
        "fulfillment_lines",
        "fulfillments",
        "fulfillment_order_lines",
        "fulfillment_orders",
        "order_events",
    ):
        op.drop_table(table)
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_status")
        batch.drop_index("ix_orders_created")
        batch.drop_constraint("uq_orders_source_external", type_="unique")
        batch.drop_constraint("fk_orders_location_id_locations", type_="foreignkey")
        for name in (
            "closed_at",
            "cancelled_at",
            "cancel_reason",
            "routing",
            "location_id",
            "external_id",
            "source",
        ):
            batch.drop_column(name)
        batch.drop_constraint(op.f("ck_orders_fulfillment_status"), type_="check")
        batch.drop_constraint(op.f("ck_orders_payment_status"), type_="check")
        batch.create_check_constraint("payment_status", _in("payment_status", OLD_PAYMENT_STATUSES))
    with op.batch_alter_table("order_lines") as batch:
        for name in ("refunded", "returned", "cancelled", "fulfilled"):
            batch.drop_column(f"quantity_{name}")
    with op.batch_alter_table("locations") as batch:
        batch.drop_column("pickup_window_hours")
    with op.batch_alter_table("channels") as batch:
        for name in ("return_window_days", "routing_strategy", "capture_mode"):
            batch.drop_column(name)
