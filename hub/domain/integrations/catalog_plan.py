"""Planning one product's rows of a catalog import (pure: no I/O): which rows are
accepted, the product's fields, options and search text once they are applied, and
each variant's values. The rules follow the catalog's own writes
(:mod:`hub.domain.catalog.products`, :mod:`~hub.domain.catalog.variants`):

- a SKU belongs to one product (a row naming another product's SKU: ``SKU_TAKEN``);
- every variant of a product gives one value per product option, and no two variants
  share the same values (``OPTIONS_MISMATCH``, ``DUPLICATE_OPTIONS``);
- a product's option values are those its variants use, in the order they had;
- a new product needs a title (``MISSING_TITLE``); when several rows of a product give
  a product field, the last one wins; ``active`` true makes it ACTIVE, false DRAFT
  (an ARCHIVED product stays so);
- the search text is the catalog's (:func:`hub.domain.catalog.search_text`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from connectors.base import CatalogRow, RowResult
from hub.domain.catalog import DEFAULT_TAX_CLASS, search_text
from hub.domain.integrations.catalog_rows import RowCode, item_key, rejected

Combo = tuple[str, ...]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Sibling:
    """A variant the hub holds."""

    id: int
    product_id: int
    sku: str
    options: tuple[str | None, str | None, str | None]
    position: int
    barcode: str | None
    weight_grams: int | None
    title: str
    tracked: bool
    is_bundle: bool

    @property
    def combo(self) -> Combo:
        return tuple(v for v in self.options if v is not None)


@dataclass
class Accepted:
    """A row that will be written: its variant's values (the columns a variant row
    takes from the feed) and what it changes."""

    index: int
    row: CatalogRow
    existing: Sibling | None
    combo: Combo
    values: dict[str, Any] = field(default_factory=dict)
    position: int = 0
    variant_pk: int | None = None
    product_pk: int | None = None
    variant_changed: bool = False
    changed: bool = False


@dataclass
class ProductPlan:
    handle: str
    existing: Any  # the product's row, None for a new product
    pk: int | None
    title: str
    description: str
    status: str
    tax_class: str
    options: list[dict[str, Any]]
    search_text: str
    product_changed: bool
    attributes_changed: dict[str, tuple[str, str]]
    accepted: list[Accepted]


def attribute_value(value: Any) -> tuple[str, str] | None:
    """A feed's attribute value as the catalog's (type, text); None: not an attribute."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "BOOLEAN", "true" if value else "false"
    if isinstance(value, int):
        return "INTEGER", str(value)
    if isinstance(value, (float, Decimal)):
        return "DECIMAL", str(value)
    if isinstance(value, (datetime, date)):
        return "DATE", value.isoformat()[:10]
    if isinstance(value, (dict, list)):
        return "JSON", orjson.dumps(value).decode()
    return "STRING", str(value)


def _pick(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _variant_title(values: Sequence[str]) -> str:
    return " / ".join(values) if values else "Default"


def _last(rows: Sequence[Accepted], name: str) -> Any:
    for a in reversed(rows):
        value = getattr(a.row, name)
        if value is not None:
            return value
    return None


def _owned(
    group: Sequence[tuple[int, CatalogRow]],
    existing: Any,
    by_sku: Mapping[str, tuple[Sibling, str]],
    out: dict[int, RowResult],
) -> list[tuple[int, CatalogRow, Sibling | None]]:
    """The rows whose SKU is free or already this product's, and whose stock (if any)
    a variant can hold."""
    ok = []
    for i, row in group:
        found = by_sku.get(row.sku)
        v = found[0] if found else None
        if v is not None and (existing is None or v.product_id != existing.id):
            out[i] = rejected(
                row.sku,
                RowCode.SKU_TAKEN,
                f"sku {row.sku!r} belongs to product {found[1]!r}",  # type: ignore[index]
            )
        elif v is not None and row.stock and (v.is_bundle or not v.tracked):
            what = "a bundle (its stock is its components')" if v.is_bundle else "not stock-tracked"
            out[i] = rejected(item_key(row), RowCode.NOT_TRACKED, f"the variant is {what}")
        else:
            ok.append((i, row, v))
    return ok


def _option_count(
    existing: Any, current: Sequence[Sibling], ok: Sequence[tuple[int, CatalogRow, Sibling | None]]
) -> int:
    if existing is not None and (existing.options or current):
        return len(existing.options)
    for _, row, _ in ok:
        if row.option_values is not None:
            return len(row.option_values)
    return 0


def _accept(
    handle: str,
    ok: Sequence[tuple[int, CatalogRow, Sibling | None]],
    current: Sequence[Sibling],
    n: int,
    out: dict[int, RowResult],
) -> list[Accepted]:
    """The rows whose option values fit the product (``n`` options, distinct combos)."""
    touched = {row.sku for _, row, _ in ok}
    combos: dict[Combo, str] = {s.combo: s.sku for s in current if s.sku not in touched}
    accepted = []
    for i, row, v in ok:
        if row.option_values is not None:
            combo: Combo = tuple(row.option_values)
        else:
            combo = v.combo if v is not None else ()
        if len(combo) != n:
            out[i] = rejected(
                item_key(row),
                RowCode.OPTIONS_MISMATCH,
                f"product {handle!r} has {n} option(s); the row gives {len(combo)} value(s)",
            )
        elif combo in combos:
            out[i] = rejected(
                item_key(row),
                RowCode.DUPLICATE_OPTIONS,
                f"sku {combos[combo]!r} of product {handle!r} has the same option values",
            )
        else:
            combos[combo] = row.sku
            accepted.append(Accepted(i, row, v, combo))
            continue
        if v is not None:  # a refused row keeps its variant's values
            combos.setdefault(v.combo, v.sku)
    return accepted


def _options(
    existing: Any, names: Sequence[str] | None, n: int, combos: Sequence[Combo]
) -> list[dict[str, Any]]:
    """The product's options: ``names`` (else the ones it has, else Option 1..n) with
    the values its variants use, in the order it had them, new ones last."""
    old = list(existing.options) if existing is not None else []
    if names is None:
        names = [o["name"] for o in old] if len(old) == n else [f"Option {k + 1}" for k in range(n)]
    out = []
    for k, name in enumerate(names):
        used = [c[k] for c in combos]
        before = [v for v in (old[k]["values"] if len(old) == n else []) if v in used]
        values = list(dict.fromkeys([*before, *used]))
        out.append({"name": name, "values": values})
    return out


def _variant_values(a: Accepted) -> None:
    """The variant columns the row sets, and whether they change the variant."""
    v, row = a.existing, a.row
    padded = [*a.combo, None, None, None]
    a.values = {
        "barcode": row.barcode if row.barcode is not None else (v.barcode if v else None),
        "weight_grams": row.weight_grams
        if row.weight_grams is not None
        else (v.weight_grams if v else None),
        "option1": padded[0],
        "option2": padded[1],
        "option3": padded[2],
        "title": v.title if v is not None and v.combo == a.combo else _variant_title(a.combo),
    }
    if v is not None:
        a.variant_changed = (
            a.values["barcode"] != v.barcode
            or a.values["weight_grams"] != v.weight_grams
            or a.combo != v.combo
        )
        a.changed = a.variant_changed


def _status(active: bool | None, current: str | None) -> str:
    if active is None:
        return current or "DRAFT"
    if active:
        return "ACTIVE"
    return current if current in ("DRAFT", "ARCHIVED") else "DRAFT"


def plan_product(
    handle: str,
    group: Sequence[tuple[int, CatalogRow]],
    existing: Any,
    current: Sequence[Sibling],
    by_sku: Mapping[str, tuple[Sibling, str]],
    attrs: Mapping[str, tuple[str, str]],
    out: dict[int, RowResult],
) -> ProductPlan | None:
    """The plan of one product's rows (rejected ones go to ``out``); None when none
    is accepted."""
    ok = _owned(group, existing, by_sku, out)
    n = _option_count(existing, current, ok)
    accepted = _accept(handle, ok, current, n, out)
    if not accepted:
        return None
    title = _pick(_last(accepted, "product_title"), existing.title if existing else None)
    if title is None:
        for a in accepted:
            msg = f"product {handle!r} is new: give product_title"
            out[a.index] = rejected(item_key(a.row), RowCode.MISSING_TITLE, msg)
        return None
    for a in accepted:
        _variant_values(a)
    touched = {a.row.sku: a for a in accepted}
    final = [touched[s.sku].combo if s.sku in touched else s.combo for s in current]
    final += [a.combo for a in accepted if a.existing is None]
    names = _last(accepted, "option_names")
    options = _options(existing, names, n, final)
    skus = [s.sku for s in current] + [a.row.sku for a in accepted if a.existing is None]
    plan = ProductPlan(
        handle=handle,
        existing=existing,
        pk=existing.id if existing is not None else None,
        title=title,
        description=_pick(_last(accepted, "description"), existing.description if existing else ""),
        status=_status(_last(accepted, "active"), existing.status if existing else None),
        tax_class=_pick(
            _last(accepted, "tax_class"), existing.tax_class if existing else DEFAULT_TAX_CLASS
        ),
        options=options,
        search_text=search_text(
            title,
            existing.vendor if existing is not None else "",
            existing.product_type if existing is not None else "",
            existing.tags if existing is not None else [],
            skus,
        ),
        product_changed=False,
        attributes_changed={},
        accepted=accepted,
    )
    _attribute_changes(plan, attrs)
    _mark_product_changes(plan)
    position = max((s.position for s in current), default=-1) + 1
    for a in accepted:
        if a.existing is None:
            a.position = position
            position += 1
    return plan


def _attribute_changes(plan: ProductPlan, attrs: Mapping[str, tuple[str, str]]) -> None:
    for a in plan.accepted:
        for key, value in (a.row.attributes or {}).items():
            typed = attribute_value(value)
            if typed is None:
                continue
            if attrs.get(key) != typed and plan.attributes_changed.get(key) != typed:
                plan.attributes_changed[key] = typed
                a.changed = True


def _mark_product_changes(plan: ProductPlan) -> None:
    """Whether the product row changes, and which rows change it."""
    p = plan.existing
    if p is None:
        return
    new = {
        "title": plan.title,
        "description": plan.description,
        "status": plan.status,
        "tax_class": plan.tax_class,
        "options": plan.options,
        "search_text": plan.search_text,
    }
    plan.product_changed = any(getattr(p, k) != v for k, v in new.items())
    for a in plan.accepted:
        row = a.row
        if (
            (row.product_title is not None and row.product_title != p.title)
            or (row.description is not None and row.description != p.description)
            or (row.tax_class is not None and row.tax_class != p.tax_class)
            or (row.active is not None and _status(row.active, p.status) != p.status)
            or (
                row.option_names is not None
                and list(row.option_names) != [o["name"] for o in p.options]
            )
        ):
            a.changed = True
