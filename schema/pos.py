"""Point of sale on the API: ``posSnapshot``, the data a store's till needs to sell
offline (staff only), as a full snapshot or the changes since a cursor, a bounded page
at a time. The rules are in :mod:`hub.domain.pos`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from hub.domain import pos
from hub.money import Money
from schema.catalog import MoneyType
from schema.errors import ApiError, decode_id
from schema.permissions import needs, require_location
from schema.promotions.types import PromotionType


def _money(minor: int | None, currency: str) -> MoneyType | None:
    # mypy is told to ignore the next line: a record stands in for the type it resolves to
    return None if minor is None else Money(minor, currency)  # type: ignore[return-value]


@strawberry.type(description="A variant as a till sells it: barcode and channel price.")
class PosVariant:
    id: strawberry.ID
    sku: str
    title: str
    barcode: str | None
    price: MoneyType | None
    compare_at_price: MoneyType | None


@strawberry.type(description="An active product priced in the store's channel.")
class PosProduct:
    id: strawberry.ID
    handle: str
    title: str
    product_type: str
    tax_class: str
    variants: list[PosVariant]


@strawberry.type(description="The store's stock of one variant.")
class PosStock:
    variant_id: strawberry.ID
    on_hand: int
    available: int = strawberry.field(
        description="On hand less committed, reserved and quarantined units."
    )


@strawberry.type(description="A tax class's rate at the store's address.")
class PosTaxRate:
    tax_class: str
    rate: Decimal = strawberry.field(description="A fraction: 0.19 is 19%.")
    name: str


@strawberry.enum
class PosRemovedKind(Enum):
    PRODUCT = "PRODUCT"
    PROMOTION = "PROMOTION"


@strawberry.type(description="Something the till must drop: deleted or no longer sold.")
class PosRemoved:
    kind: PosRemovedKind
    id: strawberry.ID


@strawberry.type(
    description="One page of a till's sync. A full sync's first page means: clear what "
    "you have. Upsert products, promotions and stock by id; drop what `removed` names; "
    "replace the tax rates when given; after the last page drop the stock of variants "
    "no product has. Follow `nextCursor` (as `after`) until it is null; then keep "
    "`syncCursor` and pass it as `since` next time."
)
class PosSnapshotPage:
    full: bool
    as_of: datetime
    currency_code: str
    prices_include_tax: bool
    tax_rates: list[PosTaxRate] | None
    products: list[PosProduct]
    promotions: list[PromotionType]
    stock: list[PosStock]
    removed: list[PosRemoved]
    next_cursor: str | None
    sync_cursor: str | None


def _page(p: pos.SnapshotPage) -> PosSnapshotPage:
    cur = p.currency
    return PosSnapshotPage(
        full=p.full,
        as_of=p.as_of,
        currency_code=cur,
        prices_include_tax=p.prices_include_tax,
        tax_rates=None
        if p.tax_rates is None
        else [PosTaxRate(tax_class=t.tax_class, rate=t.rate, name=t.name) for t in p.tax_rates],
        products=[
            PosProduct(
                id=strawberry.ID(r.id),
                handle=r.handle,
                title=r.title,
                product_type=r.product_type,
                tax_class=r.tax_class,
                variants=[
                    PosVariant(
                        id=strawberry.ID(v.id),
                        sku=v.sku,
                        title=v.title,
                        barcode=v.barcode,
                        price=_money(v.price, cur),
                        compare_at_price=_money(v.compare_at_price, cur),
                    )
                    for v in r.variants
                ],
            )
            for r in p.products
        ],
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        promotions=p.promotions,  # type: ignore[arg-type]
        stock=[
            PosStock(
                variant_id=strawberry.ID(s.variant_id), on_hand=s.on_hand, available=s.available
            )
            for s in p.stock
        ],
        removed=[
            PosRemoved(kind=PosRemovedKind(t.kind), id=strawberry.ID(t.id)) for t in p.removed
        ],
        next_cursor=p.next_cursor,
        sync_cursor=p.sync_cursor,
    )


@strawberry.type
class PosQuery:
    @strawberry.field(
        permission_classes=needs("inventory"),
        description="What a till at store `locationId` needs to sell offline in the "
        "request's channel: without `since` a full snapshot, with a `syncCursor` as "
        "`since` the changes since then; `after` continues a sync at its `nextCursor`. "
        f"`first` (at most {pos.MAX_PAGE}) bounds the products, promotions, stock "
        "levels and removals on a page.",
    )
    async def pos_snapshot(
        self,
        info: Info,
        location_id: strawberry.ID,
        since: str | None = None,
        after: str | None = None,
        first: Annotated[int, strawberry.argument(description="Entries per page.")] = 100,
    ) -> PosSnapshotPage:
        ctx: Any = info.context
        if not 1 <= first <= pos.MAX_PAGE:
            raise ApiError(f"`first` must be between 1 and {pos.MAX_PAGE}", "INVALID_PAGE")
        location_pk = decode_id(location_id, "Location")
        require_location(info, location_pk, "inventory")  # a store's staff: their store only
        channel = await ctx.channel()
        try:
            page = await pos.pos_snapshot(
                ctx.reader,
                ctx.hub.tax,
                channel,
                location_pk,
                since=since,
                after=after,
                first=first,
            )
        except pos.PosError as exc:
            code = (
                "INVALID_CURSOR"
                if exc.code == pos.SnapshotProblem.INVALID_CURSOR
                else "INVALID_ARGUMENT"
            )
            raise ApiError(str(exc), code) from None
        return _page(page)
