"""Tax computed in the hub from a table of zones and rates: no external service.

A ``TaxZone`` is a country, or a region of one (a US state, a Canadian province), with
a rate per tax class and whether shipping is taxed there. The zone for a basket is the
destination's region zone if there is one, else its country zone; a destination with
no zone is not taxed (tax 0, and a breakdown row that says so).

Tax classes are free-form names. The usual ones: ``standard``, ``reduced``,
``super_reduced``, ``intermediate``, ``zero`` and ``exempt``. A class a zone does not
list is taxed at the zone's ``standard`` rate, except ``zero`` and ``exempt``, which
are 0 unless the zone says otherwise. A zone can also map a line's ``product_type`` to
a class (``{"clothing": "zero"}`` in New Jersey); that mapping wins over the line's
own class, because it is the zone's law about that kind of product.

Prices that include tax (VAT/GST) have their tax extracted:
``tax = amount * rate / (1 + rate)``; prices without (US sales tax) have it added:
``tax = amount * rate``. Either way the tax of each line (and of shipping) is rounded
half-even to a whole minor unit, which is also right for zero-decimal currencies such
as JPY, whose minor unit is the yen.

Exemptions: ``customer_exempt`` exempts the basket (``exempt_reason="customer_exempt"``);
so does an EU reverse charge (``"reverse_charge"``): the merchant is established in an
EU member state (``TaxRules.origin_country``), the goods go to another member state,
and the customer gives a VAT number, with its country prefix, whose format is valid
for a member state other than the merchant's. A malformed number is not an exemption.
Only the format is checked here; a VIES lookup, if wanted, belongs in the checkout.

The table is data: ``TaxRules.from_dict`` / ``from_json`` / ``load`` read it, in the
shape ``TaxRules.to_dict`` writes (rates as decimal strings)::

    {"origin_country": "DE",
     "zones": [{"country": "DE", "name": "DE VAT",
                "rates": {"standard": "0.19", "reduced": "0.07"},
                "shipping_taxable": true},
               {"country": "US", "region": "NJ", "name": "US-NJ sales tax",
                "rates": {"standard": "0.06625"}, "shipping_taxable": true,
                "product_types": {"clothing": "zero"}}]}

``default_rules()`` is a demo table; the rates are illustrative, not tax advice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from connectors.base import TaxBreakdown, TaxLine, TaxRequest, TaxResult

__all__ = [
    "EU_COUNTRIES",
    "VAT_ID_PATTERNS",
    "RulesTaxEngine",
    "TaxRules",
    "TaxRulesError",
    "TaxZone",
    "default_rules",
    "parse_vat_id",
    "reverse_charge_applies",
]

ZERO_CLASSES: Final[frozenset[str]] = frozenset({"zero", "exempt"})

EU_COUNTRIES: Final[frozenset[str]] = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# ISO 3166 code -> VAT number prefix (only Greece differs).
_VAT_PREFIX: Final[Mapping[str, str]] = MappingProxyType(
    {c: ("EL" if c == "GR" else c) for c in EU_COUNTRIES}
)
_PREFIX_COUNTRY: Final[Mapping[str, str]] = MappingProxyType({p: c for c, p in _VAT_PREFIX.items()})
# Names people use that are not the ISO 3166-1 code of a country.
_COUNTRY_ALIASES: Final[Mapping[str, str]] = MappingProxyType({"UK": "GB", "EL": "GR"})

# The part of an EU VAT number after its prefix, per prefix (format only, no checksum).
VAT_ID_PATTERNS: Final[Mapping[str, re.Pattern[str]]] = MappingProxyType(
    {
        prefix: re.compile(pattern)
        for prefix, pattern in {
            "AT": r"U\d{8}",
            "BE": r"[01]\d{9}",
            "DE": r"\d{9}",
            "DK": r"\d{8}",
            "EL": r"\d{9}",
            "ES": r"[A-Z]\d{7}[A-Z0-9]|\d{8}[A-Z]",
            "FI": r"\d{8}",
            "FR": r"[0-9A-HJ-NP-Z]{2}\d{9}",
            "IE": r"\d{7}[A-WY][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
            "IT": r"\d{11}",
            "LU": r"\d{8}",
            "NL": r"\d{9}B\d{2}",
            "PL": r"\d{10}",
            "PT": r"\d{9}",
            "SE": r"\d{10}01",
        }.items()
    }
)
# Member states without an entry above: 2 to 12 letters or digits (+ and * as in IE).
GENERIC_VAT_PATTERN: Final[re.Pattern[str]] = re.compile(r"[0-9A-Z+*]{2,12}")
_VAT_SEPARATORS = re.compile(r"[\s.\-/]")


class TaxRulesError(ValueError):
    """A tax table that cannot be used; the message names the zone and the field."""


# ----------------------------------------------------------------------- VAT numbers


def normalize_country(code: str) -> str:
    code = code.strip().upper()
    return _COUNTRY_ALIASES.get(code, code)


def parse_vat_id(raw: str) -> tuple[str, str] | None:
    """``(member state, number)`` if ``raw`` is a well-formed EU VAT number, else None.

    Spaces, dots, dashes and slashes are ignored and case does not matter; the number
    must start with its country prefix (``DE``, ``FR``, ``EL`` for Greece ...).
    The member state is returned as its ISO 3166 code (``GR`` for ``EL``).
    """
    vat_id = _VAT_SEPARATORS.sub("", raw).upper()
    prefix, number = vat_id[:2], vat_id[2:]
    country = _PREFIX_COUNTRY.get(prefix)
    if country is None:
        return None
    pattern = VAT_ID_PATTERNS.get(prefix, GENERIC_VAT_PATTERN)
    return (country, number) if pattern.fullmatch(number) else None


def reverse_charge_applies(vat_id: str | None, destination: str, origin: str | None) -> bool:
    """True for an intra-EU B2B supply: the customer accounts for the VAT, not us.

    The merchant's ``origin`` and the ``destination`` are different member states and
    ``vat_id`` is a well-formed VAT number of a member state other than ``origin``.
    """
    if not vat_id or origin is None:
        return False
    origin, destination = normalize_country(origin), normalize_country(destination)
    if origin not in EU_COUNTRIES or destination not in EU_COUNTRIES or origin == destination:
        return False
    parsed = parse_vat_id(vat_id)
    return parsed is not None and parsed[0] != origin


# ------------------------------------------------------------------------- the table


def _rate(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise TaxRulesError(f"{where}: a rate is a decimal string like '0.19', got {value!r}")
    try:
        rate = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise TaxRulesError(f"{where}: {value!r} is not a decimal rate like '0.19'") from None
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise TaxRulesError(
            f"{where}: a rate is a fraction from 0 to 1 (19% is '0.19'), got {value!r}"
        )
    return rate


def _region(country: str, region: str | None) -> str | None:
    """``"ny"``, ``"NY"`` and ``"US-NY"`` all name New York; blank is no region."""
    if region is None:
        return None
    region = region.strip().upper()
    if region.startswith(f"{country}-"):
        region = region[len(country) + 1 :]
    return region or None


@dataclass(frozen=True, slots=True)
class TaxZone:
    """Where one set of rates applies: a country, or one region of it."""

    country: str
    region: str | None = None
    name: str = ""  # the breakdown's label, e.g. "DE VAT"; defaults to the zone's code
    rates: Mapping[str, Decimal] = field(default_factory=dict)  # tax class -> rate
    shipping_taxable: bool = False
    shipping_tax_class: str = "standard"
    product_types: Mapping[str, str] = field(default_factory=dict)  # product type -> class

    def __post_init__(self) -> None:
        country = normalize_country(self.country)
        region = _region(country, self.region)
        code = f"{country}-{region}" if region else country
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise TaxRulesError(f"zone {self.country!r}: country must be ISO 3166-1 alpha-2")
        if "standard" not in self.rates:
            raise TaxRulesError(f"zone {code}: rates need a 'standard' rate")
        rates = {str(k): _rate(v, f"zone {code} rate {k!r}") for k, v in self.rates.items()}
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "name", self.name or code)
        object.__setattr__(self, "rates", MappingProxyType(rates))
        object.__setattr__(self, "product_types", MappingProxyType(dict(self.product_types)))

    @property
    def code(self) -> str:
        return f"{self.country}-{self.region}" if self.region else self.country

    def tax_class(self, line: TaxLine) -> str:
        return self.product_types.get(line.product_type, line.tax_class)

    def rate(self, tax_class: str) -> Decimal:
        found = self.rates.get(tax_class)
        if found is not None:
            return found
        return Decimal(0) if tax_class in ZERO_CLASSES else self.rates["standard"]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxZone:
        where = f"zone {data.get('country')!r}/{data.get('region')!r}"
        unknown = set(data) - {
            "country",
            "region",
            "name",
            "rates",
            "shipping_taxable",
            "shipping_tax_class",
            "product_types",
        }
        if unknown:
            raise TaxRulesError(f"{where}: unknown keys {sorted(unknown)}")
        if not isinstance(data.get("country"), str):
            raise TaxRulesError(f"{where}: 'country' (ISO 3166-1 alpha-2) is required")
        rates = data.get("rates")
        if not isinstance(rates, Mapping):
            raise TaxRulesError(f"{where}: 'rates' must map tax classes to rates")
        return cls(
            country=data["country"],
            region=data.get("region"),
            name=str(data.get("name") or ""),
            rates={str(k): _rate(v, f"{where} rate {k!r}") for k, v in rates.items()},
            shipping_taxable=bool(data.get("shipping_taxable", False)),
            shipping_tax_class=str(data.get("shipping_tax_class", "standard")),
            product_types={str(k): str(v) for k, v in (data.get("product_types") or {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"country": self.country}
        if self.region:
            out["region"] = self.region
        out["name"] = self.name
        out["rates"] = {k: str(v) for k, v in self.rates.items()}
        out["shipping_taxable"] = self.shipping_taxable
        if self.shipping_tax_class != "standard":
            out["shipping_tax_class"] = self.shipping_tax_class
        if self.product_types:
            out["product_types"] = dict(self.product_types)
        return out


@dataclass(frozen=True, slots=True)
class TaxRules:
    """All zones, plus the merchant's own country (``origin_country``, for reverse charge)."""

    zones: tuple[TaxZone, ...]
    origin_country: str | None = None
    _index: Mapping[tuple[str, str | None], TaxZone] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str | None], TaxZone] = {}
        for zone in self.zones:
            key = (zone.country, zone.region)
            if key in index:
                raise TaxRulesError(f"zone {zone.code} is defined twice")
            index[key] = zone
        object.__setattr__(self, "zones", tuple(self.zones))
        object.__setattr__(self, "_index", MappingProxyType(index))
        if self.origin_country is not None:
            object.__setattr__(self, "origin_country", normalize_country(self.origin_country))

    @property
    def tax_classes(self) -> frozenset[str]:
        """Every class this table names (rates, product-type mappings, shipping), plus
        ``standard``, ``zero`` and ``exempt``: the classes a product may be given."""
        names = {"standard", *ZERO_CLASSES}
        for zone in self.zones:
            names.update(zone.rates)
            names.update(zone.product_types.values())
            names.add(zone.shipping_tax_class)
        return frozenset(names)

    def zone_for(self, country: str, region: str | None) -> TaxZone | None:
        """The region's zone if there is one, else the country's, else None."""
        country = normalize_country(country)
        region = _region(country, region)
        if region is not None and (zone := self._index.get((country, region))) is not None:
            return zone
        return self._index.get((country, None))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxRules:
        zones = data.get("zones")
        if not isinstance(zones, list):
            raise TaxRulesError("tax rules need 'zones': a list of zone objects")
        origin = data.get("origin_country")
        if origin is not None and not isinstance(origin, str):
            raise TaxRulesError("'origin_country' must be an ISO 3166-1 alpha-2 code or null")
        return cls(zones=tuple(TaxZone.from_dict(z) for z in zones), origin_country=origin)

    @classmethod
    def from_json(cls, text: str | bytes) -> TaxRules:
        try:
            data = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise TaxRulesError(f"tax rules are not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise TaxRulesError("tax rules JSON must be an object with 'zones'")
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | PathLike[str]) -> TaxRules:
        return cls.from_json(Path(path).read_bytes())

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin_country": self.origin_country,
            "zones": [zone.to_dict() for zone in self.zones],
        }


# ------------------------------------------------------------------------ the engine


def _tax(amount: int, rate: Decimal, inclusive: bool) -> int:
    if not amount or not rate:
        return 0
    raw = amount * rate / (1 + rate) if inclusive else amount * rate
    return int(raw.to_integral_value(rounding=ROUND_HALF_EVEN))


class RulesTaxEngine:
    """A ``TaxEngine`` over a ``TaxRules`` table; pure computation, no I/O."""

    # The same request always gets the same answer (a cart priced with it may be
    # reused: hub.domain.carts.reuse).
    pure = True

    def __init__(self, rules: TaxRules | None = None) -> None:
        self.rules = rules if rules is not None else default_rules()

    async def calculate(self, req: TaxRequest) -> TaxResult:
        return self.compute(req)

    def tax_classes(self) -> frozenset[str]:
        """The classes products may be given (see ``TaxRules.tax_classes``)."""
        return self.rules.tax_classes

    def compute(self, req: TaxRequest) -> TaxResult:
        if req.customer_exempt:
            return _exempt(req, "customer_exempt")
        if reverse_charge_applies(req.customer_vat_id, req.country, self.rules.origin_country):
            return _exempt(req, "reverse_charge")

        zone = self.rules.zone_for(req.country, req.region)
        if zone is None:
            country = normalize_country(req.country)
            region = _region(country, req.region)
            where = f"{country}-{region}" if region else country
            return TaxResult(
                lines={line.line_id: 0 for line in req.lines},
                shipping_tax=0,
                total_tax=0,
                breakdown=(TaxBreakdown(f"No tax zone for {where}", Decimal(0), 0),),
                source="builtin",
            )

        inclusive = req.prices_include_tax
        by_rate: dict[Decimal, int] = {}
        lines: dict[str, int] = {}
        for line in req.lines:
            rate = zone.rate(zone.tax_class(line))
            lines[line.line_id] = tax = _tax(line.amount, rate, inclusive)
            by_rate[rate] = by_rate.get(rate, 0) + tax
        shipping_tax = 0
        if zone.shipping_taxable and req.shipping:
            rate = zone.rate(zone.shipping_tax_class)
            shipping_tax = _tax(req.shipping, rate, inclusive)
            by_rate[rate] = by_rate.get(rate, 0) + shipping_tax
        breakdown = tuple(
            TaxBreakdown(zone.name, rate, amount)
            for rate, amount in sorted(by_rate.items(), reverse=True)
        )
        return TaxResult(
            lines=lines,
            shipping_tax=shipping_tax,
            total_tax=sum(lines.values()) + shipping_tax,
            breakdown=breakdown,
            source="builtin",
        )


def _exempt(req: TaxRequest, reason: str) -> TaxResult:
    return TaxResult(
        lines={line.line_id: 0 for line in req.lines},
        shipping_tax=0,
        total_tax=0,
        breakdown=(),
        source="builtin",
        exempt_reason=reason,
    )


# ---------------------------------------------------------------------- demo table

_GROCERY_CLOTHING_FREE = {"food": "zero", "clothing": "zero"}


def _us(state: str, rate: str, shipping: bool, **product_types: str) -> dict[str, Any]:
    return {
        "country": "US",
        "region": state,
        "name": f"US-{state} sales tax",
        "rates": {"standard": rate},
        "shipping_taxable": shipping,
        "product_types": product_types,
    }


def _vat(country: str, standard: str, name: str = "VAT", **other: str) -> dict[str, Any]:
    return {
        "country": country,
        "name": f"{country} {name}",
        "rates": {"standard": standard, **other},
        "shipping_taxable": True,
    }


def default_rules(origin_country: str | None = "DE") -> TaxRules:
    """Demo rates (illustrative, early 2026), merchant established in ``origin_country``.

    US sales tax by state, rates including typical local tax (NY is New York City's
    combined 8.875%); states not listed are not taxed. EU VAT with the main reduced
    rates, UK, Switzerland, Norway, Japan, Australia, New Zealand, Canada (GST, and
    HST/QST where the province's combined rate is simple).
    """
    zones: list[dict[str, Any]] = [
        {"country": "US", "name": "US sales tax", "rates": {"standard": "0"}},
        _us("NY", "0.08875", True, food="zero"),
        _us("NJ", "0.06625", True, **_GROCERY_CLOTHING_FREE),
        _us("CA", "0.0725", False, food="zero"),
        {
            **_us("IL", "0.0625", False, food="grocery"),
            "rates": {"standard": "0.0625", "grocery": "0.01"},
        },
        _us("TX", "0.0625", True, food="zero"),
        _us("PA", "0.06", True, **_GROCERY_CLOTHING_FREE),
        _us("WA", "0.065", True, food="zero"),
        # EU
        _vat("DE", "0.19", reduced="0.07"),
        _vat("NL", "0.21", reduced="0.09"),
        _vat("FR", "0.20", reduced="0.055", intermediate="0.10", super_reduced="0.021"),
        _vat("IT", "0.22", reduced="0.10", super_reduced="0.04"),
        _vat("ES", "0.21", reduced="0.10", super_reduced="0.04"),
        _vat("BE", "0.21", reduced="0.06", intermediate="0.12"),
        _vat("AT", "0.20", reduced="0.10", intermediate="0.13"),
        _vat("PL", "0.23", reduced="0.08", super_reduced="0.05"),
        _vat("SE", "0.25", reduced="0.12", super_reduced="0.06"),
        _vat("IE", "0.23", reduced="0.135", super_reduced="0.09"),
        _vat("DK", "0.25"),
        _vat("PT", "0.23", reduced="0.06", intermediate="0.13"),
        _vat("LU", "0.17", reduced="0.08", intermediate="0.14", super_reduced="0.03"),
        # elsewhere
        _vat("GB", "0.20", reduced="0.05"),
        _vat("CH", "0.081", reduced="0.026"),
        _vat("NO", "0.25", reduced="0.15"),
        _vat("JP", "0.10", "consumption tax", reduced="0.08"),
        {**_vat("AU", "0.10", "GST"), "product_types": {"food": "zero"}},
        _vat("NZ", "0.15", "GST"),
        _vat("CA", "0.05", "GST"),
        {**_vat("CA", "0.13", "HST"), "region": "ON", "name": "CA-ON HST"},
        {**_vat("CA", "0.14975", "GST+QST"), "region": "QC", "name": "CA-QC GST+QST"},
    ]
    return TaxRules.from_dict({"origin_country": origin_country, "zones": zones})
