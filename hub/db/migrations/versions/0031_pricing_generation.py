"""pricing generation: a number that grows with every change to what pricing reads

Revision ID: 0031_pricing_generation
Revises: 0030_partner
Create Date: 2026-12-04 19:20:00

Checkout reuses the priced state of a cart (priced when it was last written or viewed)
only while nothing pricing read has changed since (hub.domain.carts.reuse). What it
read is the rows of the tables below; triggers count every change to them:

* every insert, update, delete (and, on PostgreSQL, truncate) of the catalog, prices,
  channels, shipping and locations tables;
* customers: a change of the columns pricing reads (group, segments, loyalty tier, VAT
  id, email, merge, erasure; a row whose value really changed), or a deletion (``orders_count`` is left out: every order
  changes it, and a cart whose promotions ask about a first order is never reused);
* promotions and discount codes: a change of their definition, a new or deleted one, a
  counter that goes *down* (a redemption given back can make an exhausted promotion
  apply again; a counter going up matters only to promotions with limits, and a cart
  priced with one is never reused); per-customer usage: a deletion or a decrease.

On SQLite (one writer at a time) a trigger adds one to ``pricing_generation.n``. On
PostgreSQL a statement-level trigger inserts a ``pricing_changes`` row: a row all
writers updated would make concurrent catalog writers wait on one another, and could
deadlock two that lock the same rows in another order. The generation is ``n`` plus
the number of ``pricing_changes`` rows, read in one statement (one snapshot).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_pricing_generation"
down_revision: str | None = "0030_partner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FULL = (
    "channels",
    "products",
    "variants",
    "variant_prices",
    "price_lists",
    "price_list_entries",
    "collection_products",
    "bundle_components",
    "shipping_zones",
    "shipping_rates",
    "locations",
    "location_channels",
)
# table -> (columns whose update counts, counters whose decrease counts, inserts count)
PARTIAL = {
    "customers": (
        (
            "customer_group",
            "segments",
            "loyalty_tier",
            "tax_exempt_vat_id",
            "email",
            "merged_into_id",
            "erased_at",
        ),
        (),
        False,
    ),
    "promotions": (
        (
            "title",
            "status",
            "method",
            "priority",
            "definition",
            "currency",
            "starts_at",
            "ends_at",
            "usage_limit",
            "per_customer_limit",
            "budget",
        ),
        ("times_used", "spent"),
        True,
    ),
    "discount_codes": (
        ("promotion_id", "code", "display_code", "usage_limit"),
        ("times_used",),
        True,
    ),
    "promotion_customer_usage": ((), ("times_used",), False),
}


def _changed(columns: Sequence[str], differs: str, cast: str = "") -> str:
    return " OR ".join(f"OLD.{c}{cast} {differs} NEW.{c}{cast}" for c in columns)


def _down(counters: Sequence[str]) -> str:
    return " OR ".join(f"NEW.{c} < OLD.{c}" for c in counters)


def _postgresql() -> None:
    op.execute(
        "CREATE FUNCTION pricing_changed() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO pricing_changes DEFAULT VALUES; RETURN NULL; END $$"
    )
    run = "EXECUTE FUNCTION pricing_changed()"
    for t in FULL:
        op.execute(
            f"CREATE TRIGGER {t}_pricing AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {t} FOR EACH STATEMENT {run}"
        )
    for t, (columns, counters, inserts) in PARTIAL.items():
        events = ["DELETE", "TRUNCATE"] + (["INSERT"] if inserts else [])
        op.execute(
            f"CREATE TRIGGER {t}_pricing AFTER {' OR '.join(events)} ON {t} "
            f"FOR EACH STATEMENT {run}"
        )
        if columns:  # per row, and only for a real change: an UPDATE that sets the
            # same value (a tier mirrored after each order, say) moves nothing
            changed = _changed(columns, "IS DISTINCT FROM", "::text")  # (json has no =)
            op.execute(
                f"CREATE TRIGGER {t}_pricing_update AFTER UPDATE OF {', '.join(columns)} "
                f"ON {t} FOR EACH ROW WHEN ({changed}) {run}"
            )
        if counters:
            op.execute(
                f"CREATE TRIGGER {t}_pricing_down AFTER UPDATE OF {', '.join(counters)} "
                f"ON {t} FOR EACH ROW WHEN ({_down(counters)}) {run}"
            )


def _sqlite() -> None:
    bump = "BEGIN UPDATE pricing_generation SET n = n + 1 WHERE id = 1; END"
    for t in FULL:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {t}_pricing_{event.lower()} AFTER {event} ON {t} {bump}")
    for t, (columns, counters, inserts) in PARTIAL.items():
        for event in ("DELETE", "INSERT") if inserts else ("DELETE",):
            op.execute(f"CREATE TRIGGER {t}_pricing_{event.lower()} AFTER {event} ON {t} {bump}")
        if columns:
            op.execute(
                f"CREATE TRIGGER {t}_pricing_update AFTER UPDATE OF {', '.join(columns)} "
                f"ON {t} FOR EACH ROW WHEN {_changed(columns, 'IS NOT')} {bump}"
            )
        if counters:
            op.execute(
                f"CREATE TRIGGER {t}_pricing_down AFTER UPDATE OF {', '.join(counters)} "
                f"ON {t} FOR EACH ROW WHEN {_down(counters)} {bump}"
            )


def upgrade() -> None:
    op.create_table(
        "pricing_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_generation")),
    )
    op.create_table(
        "pricing_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_changes")),
    )
    op.execute("INSERT INTO pricing_generation (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for t in (*FULL, *PARTIAL):
            for suffix in ("", "_update", "_down"):
                op.execute(f"DROP TRIGGER IF EXISTS {t}_pricing{suffix} ON {t}")
        op.execute("DROP FUNCTION pricing_changed()")
    else:
        for t in (*FULL, *PARTIAL):
            for suffix in ("insert", "update", "delete", "down"):
                op.execute(f"DROP TRIGGER IF EXISTS {t}_pricing_{suffix}")
    op.drop_table("pricing_changes")
    op.drop_table("pricing_generation")
