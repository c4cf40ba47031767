"""``posSync``: a till's offline transactions, each with its own result; and
``inventoryDiscrepancies``: the levels an offline sale took below what they held,
until a count settles them. The rules are :mod:`hub.domain.pos.sync`'s."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from hub.domain.errors import DomainError
from hub.domain.inventory import LevelRecord
from hub.domain.inventory.oversold import discrepancies
from hub.domain.pos import sync_types as st
from schema.errors import UserError as UserErrorType
from schema.errors import UserErrorCode, decode_id, run_write
from schema.inventory.types import InventoryLevelType
from schema.orders.loaders import order_loaders
from schema.orders.mutations import actor
from schema.orders.types import OrderType
from schema.permissions import needs, require_location


@strawberry.enum
class PosTransactionKind(Enum):
    SALE = "SALE"
    RETURN = "RETURN"
    EXCHANGE = "EXCHANGE"
    STOCK_COUNT = "STOCK_COUNT"
    CASH_MOVEMENT = "CASH_MOVEMENT"


@strawberry.enum
class PosPaymentMethod(Enum):
    CASH = "CASH"
    CARD = "CARD"
    TERMINAL = "TERMINAL"
    GIFT_CARD = "GIFT_CARD"
    STORE_CREDIT = "STORE_CREDIT"
    OTHER = "OTHER"


@strawberry.enum
class PosSyncStatus(Enum):
    ACCEPTED = "ACCEPTED"
    ACCEPTED_WITH_CONFLICTS = "ACCEPTED_WITH_CONFLICTS"
    REJECTED = "REJECTED"


@strawberry.input
class PosLineInput:
    variant_id: strawberry.ID
    quantity: int
    unit_price: Decimal = strawberry.field(
        default=Decimal(0), description="As the till sold it, in the store channel's currency."
    )
    total_discount: Decimal = Decimal(0)
    total_tax: Decimal = Decimal(0)
    promotion_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The promotions the till applied (checked, never re-run)."
    )


@strawberry.input
class PosPaymentInput:
    method: PosPaymentMethod
    amount: Decimal
    reference: str | None = strawberry.field(default=None, description="Terminal or card ref.")


@strawberry.input
class PosCountInput:
    variant_id: strawberry.ID
    quantity: int = strawberry.field(description="Units counted on the shelf.")


@strawberry.input
class PosCashInput:
    kind: str = strawberry.field(description="CASH_IN, CASH_OUT...")
    amount: Decimal


@strawberry.input
class PosTransactionInput:
    client_transaction_id: str = strawberry.field(
        description="The till's id for it: one effect per (store, till, id)."
    )
    kind: PosTransactionKind
    occurred_at: datetime = strawberry.field(description="The till's local time, with zone.")
    lines: list[PosLineInput] | None = strawberry.field(default=None, description="Sold.")
    returned_lines: list[PosLineInput] | None = strawberry.field(
        default=None, description="Returned (RETURN, EXCHANGE)."
    )
    original_client_transaction_id: str | None = strawberry.field(
        default=None, description="The sale a return or exchange takes back."
    )
    original_till_id: str | None = strawberry.field(
        default=None, description="Its till, when another one of the store's sold it."
    )
    payments: list[PosPaymentInput] | None = strawberry.field(
        default=None, description="Taken (a sale) or given back (a return)."
    )
    counts: list[PosCountInput] | None = None
    cash: PosCashInput | None = None
    email: str | None = None
    loyalty_card_id: str | None = None
    discount_codes: list[str] | None = strawberry.field(
        default=None,
        description="The discount codes the till took (a sale's promotions are checked "
        "against what the hub's engine gives with them; at most 10).",
    )


@strawberry.type
class PosSyncConflict:
    code: UserErrorCode  # type: ignore[valid-type]  # built from CODE_ENUMS at import
    message: str
    variant_id: strawberry.ID | None = None
    till_price: int | None = strawberry.field(default=None, description="Minor units.")
    hub_price: int | None = strawberry.field(default=None, description="Minor units.")
    on_hand: int | None = None
    promotion_id: strawberry.ID | None = None
    till_discount: int | None = strawberry.field(
        default=None, description="PROMOTION_DIFFERS: what the till took off (minor units)."
    )
    hub_discount: int | None = strawberry.field(
        default=None, description="PROMOTION_DIFFERS: what the hub's promotions give."
    )


@strawberry.type
class PosSyncResult:
    client_transaction_id: str
    status: PosSyncStatus
    code: UserErrorCode | None  # type: ignore[valid-type]  # built from CODE_ENUMS at import
    message: str | None
    conflicts: list[PosSyncConflict]
    replayed: bool = strawberry.field(description="Applied before: the stored result.")
    order_pk: strawberry.Private[int | None]

    @strawberry.field(description="The order the sale became (or the one a return took back).")
    async def order(self, info: Info) -> OrderType | None:
        if self.order_pk is None:
            return None
        got: OrderType | None = await order_loaders(info).order_by_id.load(self.order_pk)
        return got


@strawberry.type
class PosSyncPayload:
    results: list[PosSyncResult] = strawberry.field(description="One per transaction, in order.")
    user_errors: list[UserErrorType]


@strawberry.type
class InventoryDiscrepancy:
    level: InventoryLevelType
    sku: str
    on_hand: int
    shortfall: int = strawberry.field(description="Units sold that the level did not hold.")
    since: datetime


def _gid(type_name: str, pk: int) -> strawberry.ID:
    from hub import ids

    return strawberry.ID(ids.encode(type_name, pk))


def _conflict(c: dict[str, Any]) -> PosSyncConflict:
    v = c.get("variantId")
    return PosSyncConflict(
        code=UserErrorCode(c["code"]),
        message=str(c.get("message", "")),
        variant_id=_gid("ProductVariant", v) if isinstance(v, int) else None,
        till_price=c.get("tillPrice"),
        hub_price=c.get("hubPrice"),
        on_hand=c.get("onHand"),
        promotion_id=_gid("Promotion", p) if isinstance(p := c.get("promotionId"), int) else None,
        till_discount=c.get("tillDiscount"),
        hub_discount=c.get("hubDiscount"),
    )


def _result(r: st.TxnResult) -> PosSyncResult:
    return PosSyncResult(
        client_transaction_id=r.client_txn_id,
        status=PosSyncStatus(r.status),
        code=UserErrorCode(r.code) if r.code else None,
        message=r.message,
        conflicts=[_conflict(c) for c in r.conflicts],
        replayed=r.replayed,
        order_pk=r.order_pk,
    )


def _lines(lines: list[PosLineInput] | None, name: str) -> tuple[st.PosLine, ...]:
    out = []
    for i, ln in enumerate(lines or []):
        promos = tuple(
            decode_id(p, "Promotion", name, str(i), "promotionIds") for p in ln.promotion_ids or []
        )
        out.append(
            st.PosLine(
                variant_pk=decode_id(ln.variant_id, "ProductVariant", name, str(i), "variantId"),
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                discount=ln.total_discount,
                tax=ln.total_tax,
                promotion_pks=promos,
            )
        )
    return tuple(out)


def parse(t: PosTransactionInput) -> st.PosTxn | st.Rejected:
    """One transaction as the domain takes it, or its rejection (a bad id in it)."""
    if len(t.lines or []) > st.MAX_LINES or len(t.returned_lines or []) > st.MAX_LINES:
        return st.Rejected(st.PosSyncCode.INVALID_TRANSACTION, f"at most {st.MAX_LINES} lines")
    if len(t.counts or []) > st.MAX_LINES:
        return st.Rejected(st.PosSyncCode.INVALID_TRANSACTION, f"at most {st.MAX_LINES} counts")
    try:
        return st.PosTxn(
            client_txn_id=t.client_transaction_id,
            kind=t.kind.value,
            occurred_at=t.occurred_at,
            lines=_lines(t.lines, "lines"),
            returned=_lines(t.returned_lines, "returnedLines"),
            payments=tuple(
                st.PosPayment(p.method.value, p.amount, p.reference) for p in t.payments or []
            ),
            counts=tuple(
                st.PosCount(
                    decode_id(c.variant_id, "ProductVariant", "counts", "variantId"), c.quantity
                )
                for c in t.counts or []
            ),
            original_client_txn_id=t.original_client_transaction_id,
            original_till_id=t.original_till_id,
            email=t.email,
            loyalty_card_id=t.loyalty_card_id,
            discount_codes=tuple(t.discount_codes or ()),
            cash_kind=t.cash.kind if t.cash else None,
            cash_amount=t.cash.amount if t.cash else None,
        )
    except DomainError as exc:
        err = exc.errors[0]
        return st.Rejected(
            st.PosSyncCode.INVALID_TRANSACTION, f"{'.'.join(err.field or [])}: {err.message}"
        )


def _tagged(parsed: st.PosTxn | st.Rejected, t: PosTransactionInput) -> st.PosTxn | st.Rejected:
    if isinstance(parsed, st.Rejected):
        parsed.client_txn_id = t.client_transaction_id[:64]
    return parsed


@strawberry.type
class PosSyncMutation:
    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Apply what a till recorded offline: sales, returns, exchanges, stock "
        "counts, cash movements. Each transaction once per (store, till, "
        "clientTransactionId) with its own result; a sale is never rejected for stock.",
    )
    async def pos_sync(
        self,
        info: Info,
        location_id: strawberry.ID,
        till_id: str,
        batch: list[PosTransactionInput],
    ) -> PosSyncPayload:
        loc = decode_id(location_id, "Location")
        require_location(info, loc, "orders")
        may_count = info.context.principal.may_location(loc, "inventory")
        if len(batch) > st.MAX_BATCH:
            from hub.domain.errors import fail

            async def too_many() -> Any:
                raise fail(st.PosSyncCode.BATCH_TOO_LARGE, f"at most {st.MAX_BATCH}", "batch")

            _, errs = await run_write(info, too_many)
            return PosSyncPayload(results=[], user_errors=errs)
        parsed = [_tagged(parse(t), t) for t in batch]

        async def go() -> list[st.TxnResult]:
            return await info.context.hub.pos_sync.sync(
                loc, till_id, parsed, actor=actor(info), may_count=may_count
            )

        got, errs = await run_write(info, go)
        return PosSyncPayload(results=[_result(r) for r in got or []], user_errors=errs)


@strawberry.type
class PosSyncQuery:
    @strawberry.field(
        permission_classes=needs("inventory"),
        description="Levels at a location that an offline sale took below what they held "
        "(onHand may be negative), oldest first, until a count settles them.",
    )
    async def inventory_discrepancies(
        self, info: Info, location_id: strawberry.ID, first: int = 50
    ) -> list[InventoryDiscrepancy]:
        loc = decode_id(location_id, "Location")
        require_location(info, loc, "inventory")
        if not 1 <= first <= info.context.settings.max_page_size:
            from schema.errors import ApiCode, ApiError

            raise ApiError(
                f"first must be 1 to {info.context.settings.max_page_size}", ApiCode.INVALID_PAGE
            )
        rows = await discrepancies(info.context.reader, loc, limit=first)
        out = []
        for r in rows:
            lv = LevelRecord(r)
            held = lv.on_hand - lv.committed - lv.reserved - lv.quarantined
            out.append(
                InventoryDiscrepancy(
                    level=lv,  # type: ignore[arg-type]  # the record is the type's root
                    sku=r.sku,
                    on_hand=lv.on_hand,
                    shortfall=max(0, -held),
                    since=r.oversold_since,
                )
            )
        return out
