"""Fees: amounts a cart is charged on top of its merchandise (gift wrapping, a
handling charge), added by the hooks plugins register (:mod:`plugins`).

A hook is a function of the priced cart (after promotions and loyalty, before tax)
returning :class:`Fee` s, each of a line or of the whole cart. The fee stage of
:func:`hub.domain.carts.pricing.price_cart` adds a line's fees to the line's total
(so tax is computed on them, as on the line, and a refund of the line gives them
back) and every fee to the cart's ``fee_total`` and total; checkout charges that
total and the order keeps the fees (``orders.fees``).

Hooks are registered per process, by name (a plugin's name), like the promotion
condition and action kinds. A hook must be pure and fast: it runs on every pricing of
every cart. One that raises, or returns something that is not a fee of this cart, is
logged and its fees left out of that pricing (the cart still prices).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.domain.carts.priced import PricedCart

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Fee:
    """``amount`` (minor units of the cart's currency, at least 0) charged for
    ``code`` (a stable name, e.g. "gift_wrap"), shown as ``label``; on the line
    ``line_pk`` (a cart line's pk), or on the cart when None."""

    code: str
    label: str
    amount: int
    line_pk: int | None = None
    source: str = ""  # the hook's name: set by the fee stage

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": self.label,
            "amount": self.amount,
            "lineId": self.line_pk,
            "source": self.source,
        }


FeeHook = Callable[["PricedCart"], Iterable[Fee]]

_HOOKS: dict[str, FeeHook] = {}


def register_fee_hook(name: str, hook: FeeHook) -> None:
    """Run ``hook`` in every cart's pricing from now on (replacing ``name``'s)."""
    if not callable(hook):
        raise TypeError(f"fee hook {name!r} is not callable")
    _HOOKS[name] = hook


def unregister_fee_hook(name: str) -> None:
    _HOOKS.pop(name, None)


def fee_hooks() -> dict[str, FeeHook]:
    """The registered hooks by name (a copy)."""
    return dict(_HOOKS)


def hooked() -> bool:
    """Whether any fee hook is registered."""
    return bool(_HOOKS)


def add_fees(priced: PricedCart) -> None:
    """The fee stage: every hook's fees on the priced cart (see the module docstring)."""
    if not _HOOKS:
        return
    lines = {ln.pk: ln for ln in priced.lines if ln.sellable}
    for name, hook in list(_HOOKS.items()):
        try:
            fees = [_checked(fee, lines) for fee in hook(priced)]
        except Exception:
            log.exception("fee hook %r failed: its fees are left out of this cart", name)
            continue
        for fee in fees:
            fee = Fee(fee.code, fee.label, fee.amount, fee.line_pk, name)
            if fee.line_pk is not None:
                ln = lines[fee.line_pk]
                ln.fee += fee.amount
                ln.total += fee.amount
            priced.fees.append(fee)
            priced.fee_total += fee.amount


def _checked(fee: object, lines: dict[int, Any]) -> Fee:
    if not isinstance(fee, Fee):
        raise TypeError(f"a fee hook returned {fee!r}, not a Fee")
    if not isinstance(fee.amount, int) or isinstance(fee.amount, bool) or fee.amount < 0:
        raise ValueError(f"fee {fee.code!r}: amount must be an int >= 0, got {fee.amount!r}")
    if fee.line_pk is not None and fee.line_pk not in lines:
        raise ValueError(f"fee {fee.code!r}: line {fee.line_pk} is not a sellable line")
    return fee
