"""staff users and scoped roles: staff_users, staff_roles, staff_user_roles,
staff_tokens; API keys bound to a staff user (api_keys.staff_user_id) and a partner
key's permissions (api_keys.permissions)

Revision ID: 0016_staff
Revises: 0015_fulfillment_serials
Create Date: 2026-12-03 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_staff"
down_revision: str | None = "0015_fulfillment_serials"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", BigId, nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_table(
        "staff_roles",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("channel_ids", sa.JSON(), nullable=True),
        sa.Column("location_ids", sa.JSON(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_staff_roles_name")),
    )
    op.create_table(
        "staff_user_roles",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("role_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_user_roles_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["staff_roles.id"],
            name=op.f("fk_staff_user_roles_role_id_staff_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_staff_user_roles")),
    )
    op.create_index(
        op.f("ix_staff_user_roles_role_id"), "staff_user_roles", ["role_id"], unique=False
    )
    op.create_table(
        "staff_tokens",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("ended_at", When, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_tokens_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_tokens_token_hash")),
    )
    op.create_index("ix_staff_tokens_user", "staff_tokens", ["user_id"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_user_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("permissions", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_api_keys_staff_user_id"), ["staff_user_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_staff_user_id_staff_users"),
            "staff_users",
            ["staff_user_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_api_keys_staff_user_id_staff_users"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_api_keys_staff_user_id"))
        batch_op.drop_column("permissions")
        batch_op.drop_column("staff_user_id")
    op.drop_index("ix_staff_tokens_user", table_name="staff_tokens")
    op.drop_table("staff_tokens")
    op.drop_index(op.f("ix_staff_user_roles_role_id"), table_name="staff_user_roles")
    op.drop_table("staff_user_roles")
    op.drop_table("staff_roles")
    op.drop_table("staff_users")
