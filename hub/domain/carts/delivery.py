"""How a cart's lines reach the buyer: delivery groups, each shipped to an address or
picked up at a location, so one cart can mix both.

Rules: a group is SHIPPING or PICKUP; a pickup group names a location (and no address)
that is active, offers pickup and sells to the cart's channel; a shipping group names
no location; a line belongs to one group, and at most one group leaves its lines out
(it takes every line no other group names).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import groups_t, lines_t, loc_channels_t, locations_t
from hub.domain.carts.model import PICKUP, SHIPPING, CartState, DeliveryGroupInput
from hub.domain.carts.validation import clean_address
from hub.domain.errors import Code, fail


def delivery_kind(has_address: bool, has_location: bool, *path: str) -> str:
    """What a group the client describes is: picked up when it names a location, else
    shipped; never both."""
    if has_address and has_location:
        raise fail(Code.INVALID, "ship to an address or pick up, not both", *path)
    return PICKUP if has_location else SHIPPING


async def set_delivery(
    conn: AsyncConnection, state: CartState, groups: Sequence[DeliveryGroupInput]
) -> None:
    """Replace the cart's delivery groups (their addresses cleaned in place)."""
    mine = {r.id for r in state.lines}
    named: set[int] = set()
    catch_all = 0
    for i, g in enumerate(groups):
        path = ("delivery_groups", str(i))
        await _check_group(conn, state, g, *path)
        if g.address is not None:
            g.address = clean_address(g.address, *path, "address")
        if g.line_pks is None:
            catch_all += 1
            continue
        for j, pk in enumerate(g.line_pks):
            if pk not in mine:
                raise fail(Code.NOT_FOUND, "no such line in this cart", *path, "line_ids", str(j))
            if pk in named:
                raise fail(
                    Code.INVALID, "a line belongs to one delivery group", *path, "line_ids", str(j)
                )
            named.add(pk)
    if catch_all > 1:
        raise fail(Code.INVALID, "only one group may leave lineIds out", "delivery_groups")
    await _replace_groups(conn, state, groups, mine - named)


async def _check_group(
    conn: AsyncConnection, state: CartState, g: DeliveryGroupInput, *path: str
) -> None:
    if g.kind not in (SHIPPING, PICKUP):
        raise fail(Code.INVALID, "kind is SHIPPING or PICKUP", *path, "kind")
    if g.kind == SHIPPING:
        if g.location_pk is not None:
            raise fail(
                Code.INVALID, "a shipping group has no pickup location", *path, "pickup_location_id"
            )
        if g.transfer_in:
            raise fail(
                Code.INVALID,
                "only a pickup group takes its lines by transfer",
                *path,
                "pickup_by_transfer",
            )
        return
    if g.location_pk is None or g.address is not None:
        raise fail(
            Code.INVALID,
            "a pickup group names a pickupLocationId and no address",
            *path,
            "pickup_location_id",
        )
    loc = (
        await conn.execute(
            select(locations_t.c.id)
            .join(
                loc_channels_t,
                and_(
                    loc_channels_t.c.location_id == locations_t.c.id,
                    loc_channels_t.c.channel_id == state.cart.channel_id,
                ),
            )
            .where(
                locations_t.c.id == g.location_pk,
                locations_t.c.active.is_(True),
                locations_t.c.pickup_enabled.is_(True),
            )
        )
    ).first()
    if loc is None:
        raise fail(
            Code.INVALID,
            "that location offers no pickup for this cart's channel",
            *path,
            "pickup_location_id",
        )


async def _replace_groups(
    conn: AsyncConnection,
    state: CartState,
    groups: Sequence[DeliveryGroupInput],
    unnamed: set[int],
) -> None:
    """Write the groups in place of the cart's; ``unnamed``: the lines no group names
    (the catch-all group's, if there is one)."""
    await conn.execute(
        update(lines_t).where(lines_t.c.cart_id == state.cart.id).values(delivery_group_id=None)
    )
    await conn.execute(delete(groups_t).where(groups_t.c.cart_id == state.cart.id))
    for pos, g in enumerate(groups):
        gid = (
            await conn.execute(
                insert(groups_t)
                .values(
                    cart_id=state.cart.id,
                    position=pos,
                    kind=g.kind,
                    address=g.address,
                    location_id=g.location_pk,
                    option_handle=g.option_handle,
                    transfer_in=g.transfer_in,
                )
                .returning(groups_t.c.id)
            )
        ).scalar_one()
        members = list(unnamed) if g.line_pks is None else g.line_pks
        if members:
            await conn.execute(
                update(lines_t).where(lines_t.c.id.in_(members)).values(delivery_group_id=gid)
            )
