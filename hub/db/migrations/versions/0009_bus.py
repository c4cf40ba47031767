"""outbox position in commit order (txid), for every process's tail of the event log

Revision ID: 0009_bus
Revises: 0008_api_key_expiry
Create Date: 2026-12-02 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_bus"
down_revision: str | None = "0008_api_key_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: the writing transaction's id (xid8, monotonic, never wraps), assigned by
# the database on every insert. SQLite has one writer at a time, so ids are commit
# order there and the column is 0.
PG_TXID = sa.text("(pg_current_xact_id()::text::bigint)")


def upgrade() -> None:
    # Rows already there get 0: older than anything a tail will look for.
    op.add_column("outbox", sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("outbox", "txid", server_default=PG_TXID)
    op.create_index("ix_outbox_position", "outbox", ["txid", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_position", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("txid")
