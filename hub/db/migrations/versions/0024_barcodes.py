"""barcodes: each variant's barcode in its normal form (``barcode_key``: a GTIN as its
GTIN-14, an internal code as ``I:`` + code) under a unique index, backfilled from the
barcodes already stored; and what a till's change feed (posSnapshot) reads: an index on
products' updated_at and the log of deleted products and promotions

Backfill: a stored barcode that is a valid GTIN or internal code gets its key; one that
is not (a wrong check digit, a digit string of another length) keeps its text but gets
no key, so look-ups and uniqueness ignore it until staff correct it; when several
variants spell the same barcode, the oldest (lowest id) keeps the key and the others
get none.

Revision ID: 0024_barcodes
Revises: 0022_plugins
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.domain.catalog.barcodes import barcode_key

revision: str = "0024_barcodes"
down_revision: str | None = "0022_plugins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("variants") as batch:
        batch.add_column(sa.Column("barcode_key", sa.String(length=66), nullable=True))
    bind = op.get_bind()
    variants = sa.table(
        "variants",
        sa.column("id", sa.BigInteger),
        sa.column("barcode", sa.String),
        sa.column("barcode_key", sa.String),
    )
    rows = bind.execute(
        sa.select(variants.c.id, variants.c.barcode)
        .where(variants.c.barcode.is_not(None))
        .order_by(variants.c.id)
    ).all()
    seen: set[str] = set()
    for pk, code in rows:
        key = barcode_key(code)
        if key is None or key in seen:
            continue
        seen.add(key)
        bind.execute(sa.update(variants).where(variants.c.id == pk).values(barcode_key=key))
    op.create_index("uq_variants_barcode_key", "variants", ["barcode_key"], unique=True)
    op.create_index("ix_products_updated", "products", ["updated_at", "id"])
    op.create_table(
        "catalog_deletions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_catalog_deletions_time", "catalog_deletions", ["deleted_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_catalog_deletions_time", table_name="catalog_deletions")
    op.drop_table("catalog_deletions")
    op.drop_index("ix_products_updated", table_name="products")
    op.drop_index("uq_variants_barcode_key", table_name="variants")
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("barcode_key")
