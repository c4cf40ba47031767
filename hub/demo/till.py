"""The demo till: a till at the SoHo store and a store associate who signs in at it
with a PIN (README, "Point of sale").

- till ``SOHO-1`` ("SoHo front counter") at the SoHo Flagship store;
- role ``SoHo associate``: orders, refunds, inventory, catalog:read and customers, at
  SoHo only;
- staff user ``associate@demo.example.com`` (no password: PIN only), PIN ``2468`` valid
  at SoHo. The PIN's argon2id hash is fixed here so the demo stays deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import (
    staff_pins_t,
    staff_roles_t,
    staff_user_roles_t,
    staff_users_t,
    tills_t,
)
from hub.demo.locations import SOHO

DEMO_TILL_CODE = "SOHO-1"
DEMO_STAFF_EMAIL = "associate@demo.example.com"
DEMO_STAFF_PIN = "2468"
# argon2id of DEMO_STAFF_PIN with the hub's default cost (hub.domain.accounts.Passwords).
_PIN_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$J2+sb72A1BKaRUOwwMp4DQ$"
    "YGfLak/sAIVlw9B+t3FGQ3+mk4En1wosfQEszJJ2zCU"
)
_AT = datetime(2026, 1, 1, tzinfo=UTC)


async def seed_demo_till(conn: AsyncConnection) -> None:
    await conn.execute(
        insert(tills_t).values(
            location_id=SOHO, code=DEMO_TILL_CODE, name="SoHo front counter", active=True,
            created_at=_AT, updated_at=_AT,
        )
    )  # fmt: skip
    role = (
        await conn.execute(
            insert(staff_roles_t)
            .values(
                name="SoHo associate",
                permissions=["catalog:read", "customers", "inventory", "orders", "refunds"],
                channel_ids=None,
                location_ids=[SOHO],
                created_at=_AT,
            )
            .returning(staff_roles_t.c.id)
        )
    ).scalar_one()
    user = (
        await conn.execute(
            insert(staff_users_t)
            .values(
                email=DEMO_STAFF_EMAIL, name="Alex Associate", password_hash=None, active=True,
                created_at=_AT, updated_at=_AT,
            )
            .returning(staff_users_t.c.id)
        )
    ).scalar_one()  # fmt: skip
    await conn.execute(insert(staff_user_roles_t).values(user_id=user, role_id=role))
    await conn.execute(
        insert(staff_pins_t).values(
            user_id=user, pin_hash=_PIN_HASH, location_ids=[SOHO], failed_attempts=0,
            locked_until=None, updated_at=_AT,
        )
    )  # fmt: skip
