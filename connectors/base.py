"""The protocols the domain depends on, and the data types they exchange.

The domain (``hub.domain``) imports only from this module; the app wires the configured
implementation of each protocol in at start-up. A connector talks to its external
system (and to the domain layer), never to the database. Amounts are integers in the
minor units of an ISO 4217 currency (see ``hub.money``); rates are ``Decimal``.

Sections: tax. (ERP, CRM, marketplace and payment-provider protocols join them here.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

# ------------------------------------------------------------------------------- tax

TaxSource = Literal["builtin", "service", "fallback"]
"""Who computed a ``TaxResult``: the rules table in the hub, an external tax service,
or the fallback engine after the service failed."""


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One basket line to tax.

    ``amount`` is the line total after discounts (unit price x quantity - discounts),
    in minor units; it includes tax when the request says ``prices_include_tax``.
    """

    line_id: str
    amount: int
    quantity: int
    tax_class: str = "standard"
    product_type: str = ""


@dataclass(frozen=True, slots=True)
class TaxRequest:
    """A basket to tax, destination-based: the ship-to (or sale) address decides.

    ``country`` is ISO 3166-1 alpha-2 (``"US"``, ``"DE"``); ``region`` the subdivision
    (a US state ``"NY"`` or ``"US-NY"``), ``None`` where it does not matter.
    ``shipping`` is the shipping charge in minor units (tax-inclusive like the lines
    when ``prices_include_tax``). ``customer_vat_id`` is the buyer's VAT number as
    entered (``"FR 40 303 265 045"``); ``customer_exempt`` marks a customer with an
    exemption certificate on file.
    """

    currency: str
    country: str
    region: str | None
    postal_code: str | None
    prices_include_tax: bool
    lines: tuple[TaxLine, ...]
    shipping: int
    customer_vat_id: str | None
    customer_exempt: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.lines, tuple):
            object.__setattr__(self, "lines", tuple(self.lines))
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"TaxRequest line ids must be unique; repeated: {dupes}")
        if self.shipping < 0:
            raise ValueError(f"TaxRequest.shipping must be >= 0 minor units, got {self.shipping}")


@dataclass(frozen=True, slots=True)
class TaxBreakdown:
    """Tax collected at one rate under one name (one row of an invoice's tax table)."""

    name: str
    rate: Decimal
    amount: int


@dataclass(frozen=True, slots=True)
class TaxResult:
    """The tax on a basket, in minor units of the request's currency.

    ``lines`` maps every request ``line_id`` to its tax. With tax-inclusive prices the
    amounts are the tax contained in the prices; otherwise the tax to add on top.
    ``total_tax`` is ``sum(lines.values()) + shipping_tax``. ``exempt_reason`` is set
    when the basket was not taxed because of who buys (``"customer_exempt"``,
    ``"reverse_charge"``); it stays ``None`` when tax is simply zero.
    """

    lines: dict[str, int]
    shipping_tax: int
    total_tax: int
    breakdown: tuple[TaxBreakdown, ...]
    source: TaxSource
    exempt_reason: str | None = None


class TaxUnavailable(Exception):
    """No engine could compute the tax (the service failed and no fallback is set).

    The basket cannot be priced right now; retry later, or configure a fallback
    engine (``HttpTaxEngine(..., fallback=RulesTaxEngine(default_rules()))``).
    """


@runtime_checkable
class TaxEngine(Protocol):
    """Computes the tax on a basket. Implementations: ``connectors.tax``."""

    async def calculate(self, req: TaxRequest) -> TaxResult: ...
