"""What the catalog import checks of each row before any transaction: the codes a
rejected row carries (:class:`RowCode`), the channels and locations rows may name
(:class:`Reference`) and :func:`check_row`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import CatalogRow, RowResult
from hub.bounds import INT32_MAX, TEXT_MAX
from hub.db.tables import channels_t, locations_t
from hub.domain.catalog import HANDLE_RE, MAX_OPTIONS
from hub.money import MAX_MINOR

TAX_CLASS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ATTRIBUTE_KEY_MAX = 128
SYNC_REASON = "erp_sync"  # the ledger's reason for imported levels


class RowCode(StrEnum):
    """Why a row was rejected (``RowResult.code``)."""

    INVALID_SKU = "INVALID_SKU"
    INVALID_HANDLE = "INVALID_HANDLE"
    INVALID_TEXT = "INVALID_TEXT"
    INVALID_BARCODE = "INVALID_BARCODE"
    INVALID_OPTIONS = "INVALID_OPTIONS"
    INVALID_TAX_CLASS = "INVALID_TAX_CLASS"
    INVALID_WEIGHT = "INVALID_WEIGHT"
    INVALID_ATTRIBUTE = "INVALID_ATTRIBUTE"
    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    INVALID_PRICE = "INVALID_PRICE"
    UNKNOWN_LOCATION = "UNKNOWN_LOCATION"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    DUPLICATE_SKU = "DUPLICATE_SKU"
    MISSING_TITLE = "MISSING_TITLE"
    SKU_TAKEN = "SKU_TAKEN"
    OPTIONS_MISMATCH = "OPTIONS_MISMATCH"
    DUPLICATE_OPTIONS = "DUPLICATE_OPTIONS"
    NOT_TRACKED = "NOT_TRACKED"
    UNKNOWN_SKU = "UNKNOWN_SKU"
    CONFLICT = "CONFLICT"


class Rejected(Exception):
    """One row refused (raised and caught inside this package)."""

    def __init__(self, code: RowCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Reference:
    """The channels (handle -> (id, currency)) and locations (handle -> id) rows may
    name, read once per import."""

    channels: dict[str, tuple[int, str]]
    locations: dict[str, int]
    tax_classes: frozenset[str] | None = None


async def load_reference(conn: AsyncConnection, tax_classes: frozenset[str] | None) -> Reference:
    chans = await conn.execute(select(channels_t.c.handle, channels_t.c.id, channels_t.c.currency))
    locs = await conn.execute(select(locations_t.c.handle, locations_t.c.id))
    return Reference(
        {r.handle: (r.id, r.currency) for r in chans},
        {r.handle: r.id for r in locs},
        tax_classes,
    )


def item_key(row: CatalogRow) -> str:
    """A row's key in its result: the source's name for it, else its SKU."""
    return row.item or row.sku


def rejected(key: str, code: RowCode, message: str) -> RowResult:
    return RowResult(key, "rejected", str(code), message)


# --------------------------------------------------------------------------- checks


def _text(value: str | None, name: str, max_len: int = 255, *, blank_ok: bool = True) -> None:
    if value is None:
        return
    if not blank_ok and not value.strip():
        raise Rejected(RowCode.INVALID_TEXT, f"{name} can't be blank")
    if len(value) > max_len:
        raise Rejected(RowCode.INVALID_TEXT, f"{name} is longer than {max_len} characters")
    if "\x00" in value:
        raise Rejected(RowCode.INVALID_TEXT, f"{name} holds a NUL character")


def _check_options(row: CatalogRow) -> None:
    for what, seq in (("option values", row.option_values), ("option names", row.option_names)):
        if seq is None:
            continue
        if len(seq) > MAX_OPTIONS:
            raise Rejected(RowCode.INVALID_OPTIONS, f"a product has at most {MAX_OPTIONS} options")
        for v in seq:
            if not isinstance(v, str) or not v.strip() or len(v) > 255:
                raise Rejected(RowCode.INVALID_OPTIONS, f"{what} are 1 to 255 characters")
    if row.option_names is not None:
        if row.option_values is None or len(row.option_names) != len(row.option_values):
            raise Rejected(RowCode.INVALID_OPTIONS, "give one option value per option name")
        if len(set(row.option_names)) != len(row.option_names):
            raise Rejected(RowCode.INVALID_OPTIONS, "option names must be distinct")


def _check_money_and_stock(row: CatalogRow, ref: Reference) -> None:
    for handle, amount in (row.prices or {}).items():
        if handle not in ref.channels:
            known = ", ".join(sorted(ref.channels))
            raise Rejected(RowCode.UNKNOWN_CHANNEL, f"no channel {handle!r} (known: {known})")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_MINOR:
            raise Rejected(
                RowCode.INVALID_PRICE,
                f"price in {handle!r} must be 0 to {MAX_MINOR} minor units, got {amount!r}",
            )
    check_stock(row.stock, ref)


def check_stock(stock: Mapping[str, int] | None, ref: Reference) -> None:
    for handle, qty in (stock or {}).items():
        if handle not in ref.locations:
            raise Rejected(RowCode.UNKNOWN_LOCATION, f"no location {handle!r}")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 0 <= qty <= INT32_MAX:
            raise Rejected(
                RowCode.INVALID_QUANTITY,
                f"on hand at {handle!r} must be 0 to {INT32_MAX}, got {qty!r}",
            )


def check_row(row: CatalogRow, ref: Reference) -> None:
    """Raise :class:`Rejected` if ``row`` can't be written whatever the hub holds."""
    if not isinstance(row.sku, str) or not row.sku.strip() or len(row.sku) > 128:
        raise Rejected(RowCode.INVALID_SKU, "sku must be 1 to 128 characters")
    handle = row.product_handle
    if not isinstance(handle, str) or len(handle) > 255 or not HANDLE_RE.match(handle):
        raise Rejected(
            RowCode.INVALID_HANDLE,
            "product_handle must be lowercase letters, digits and dashes (at most 255)",
        )
    _text(row.product_title, "product_title", blank_ok=False)
    _text(row.description, "description", TEXT_MAX)
    if row.barcode is not None and (not row.barcode.strip() or len(row.barcode) > 64):
        raise Rejected(RowCode.INVALID_BARCODE, "barcode must be 1 to 64 characters")
    _check_options(row)
    if row.tax_class is not None:
        if not TAX_CLASS_RE.match(row.tax_class):
            raise Rejected(RowCode.INVALID_TAX_CLASS, "tax_class is 1 to 64 letters, digits, _-.")
        if ref.tax_classes is not None and row.tax_class not in ref.tax_classes:
            raise Rejected(RowCode.INVALID_TAX_CLASS, f"unknown tax class {row.tax_class!r}")
    if row.weight_grams is not None and (
        isinstance(row.weight_grams, bool) or not 0 <= row.weight_grams <= INT32_MAX
    ):
        raise Rejected(RowCode.INVALID_WEIGHT, "weight_grams must be 0 or more")
    for key in row.attributes or {}:
        if not isinstance(key, str) or not 0 < len(key) <= ATTRIBUTE_KEY_MAX:
            raise Rejected(RowCode.INVALID_ATTRIBUTE, "attribute keys are 1 to 128 characters")
    _check_money_and_stock(row, ref)
