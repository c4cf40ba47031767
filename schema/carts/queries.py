"""The cart query, and carts through ``node``/``nodes``."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from hub.domain import carts as cartsvc
from hub.domain.errors import DomainError
from schema.carts.mutations import commerce
from schema.carts.types import CartType, shown
from schema.errors import ApiError
from schema.relay import register_node


@strawberry.type
class CartQuery:
    @strawberry.field(
        description="A cart by id: null if unknown or another customer's; an expired cart "
        "is an error with extensions.code CART_EXPIRED."
    )
    async def cart(self, info: Info, id: strawberry.ID) -> CartType | None:
        token = cartsvc.parse_cart_id(id)
        if token is None:
            return None
        com = commerce(info)
        try:
            priced = await cartsvc.view_cart(
                com.db, token, info.context.principal, tax_engine=com.tax, expired_error=True
            )
        except DomainError as exc:
            raise ApiError(exc.errors[0].message, str(exc.errors[0].code)) from None
        return shown(priced)


async def _cart_nodes(info: Info, tokens: list[str]) -> dict[str, cartsvc.PricedCart]:
    """node(id:): as cart(id:): a guest cart to anyone holding the unguessable id, a
    customer's cart to that customer's key (and staff); expired carts are null."""
    com = commerce(info)
    return await cartsvc.view_carts(com.db, tokens, info.context.principal, tax_engine=com.tax)


register_node("Cart", _cart_nodes, parse=lambda raw: cartsvc.parse_cart_id(cartsvc.CART_GID + raw))
