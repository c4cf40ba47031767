"""Tax engines: the rules table in the hub, and the HTTP connector with its fallback.

The HTTP tests talk to a real stand-in tax service: a small Starlette app implementing
``POST /v1/tax/calculate`` (the wire format in ``connectors.tax.http``), served by
uvicorn in a background thread on a free 127.0.0.1 port. The stand-in taxes every
line and shipping at a flat 10%, so its answers differ from the builtin engine's, and
it counts its calls and can be scripted to be slow, fail or answer nonsense.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.base import TaxEngine, TaxLine, TaxRequest, TaxResult, TaxUnavailable
from connectors.tax import HttpTaxEngine, RulesTaxEngine, TaxRules, TaxRulesError, default_rules
from connectors.tax.builtin import parse_vat_id
from tests.helpers.serving import listening_socket, serve_on, url_of

ENGINE = RulesTaxEngine(default_rules(origin_country="DE"))
API_KEY = "test-key"


def basket(
    country: str,
    region: str | None = None,
    *lines: TaxLine,
    shipping: int = 0,
    inclusive: bool = False,
    currency: str = "USD",
    vat_id: str | None = None,
    exempt: bool = False,
) -> TaxRequest:
    return TaxRequest(
        currency=currency,
        country=country,
        region=region,
        postal_code=None,
        prices_include_tax=inclusive,
        lines=lines,
        shipping=shipping,
        customer_vat_id=vat_id,
        customer_exempt=exempt,
    )


def line(line_id: str, amount: int, tax_class: str = "standard", product_type: str = "") -> TaxLine:
    return TaxLine(line_id, amount, 1, tax_class, product_type)


def rows(result: TaxResult) -> list[tuple[str, str, int]]:
    return [(b.name, str(b.rate), b.amount) for b in result.breakdown]


# ======================================================================== builtin


def test_engines_satisfy_the_protocol() -> None:
    assert isinstance(ENGINE, TaxEngine)
    assert isinstance(HttpTaxEngine("http://127.0.0.1:9"), TaxEngine)


def test_us_sales_tax_is_added_and_shipping_taxed_where_the_state_says() -> None:
    lines = (line("a", 2000), line("b", 1000))
    ny = ENGINE.compute(basket("US", "NY", *lines, shipping=1000))
    # 2000 * 8.875% = 177.5 -> 178 (half-even), 1000 -> 88.75 -> 89; NY taxes shipping.
    assert ny.lines == {"a": 178, "b": 89}
    assert ny.shipping_tax == 89
    assert ny.total_tax == 356
    assert ny.source == "builtin" and ny.exempt_reason is None
    assert rows(ny) == [("US-NY sales tax", "0.08875", 356)]

    ca = ENGINE.compute(basket("US", "CA", *lines, shipping=1000))
    # 1000 * 7.25% = 72.5 -> 72 (half-even, not 73); CA does not tax shipping.
    assert ca.lines == {"a": 145, "b": 72}
    assert ca.shipping_tax == 0
    assert ca.total_tax == 217

    nj = ENGINE.compute(basket("US", "NJ", *lines, shipping=1000))
    assert nj.lines == {"a": 132, "b": 66}  # 132.5 -> 132, 66.25 -> 66
    assert nj.shipping_tax == 66


def test_us_region_spellings_product_types_and_untaxed_states() -> None:
    clothes = (line("shirt", 5000, product_type="clothing"), line("lamp", 5000))
    for region in ("NJ", "nj", "US-NJ", " us-nj "):
        assert ENGINE.compute(basket("US", region, *clothes)).lines == {"shirt": 0, "lamp": 331}
    # New York taxes the same clothing.
    assert ENGINE.compute(basket("US", "NY", *clothes)).lines == {"shirt": 444, "lamp": 444}
    oregon = ENGINE.compute(basket("US", "OR", *clothes, shipping=500))
    assert oregon.total_tax == 0
    assert rows(oregon) == [("US sales tax", "0", 0)]


def test_eu_vat_is_extracted_from_inclusive_prices_to_the_cent() -> None:
    result = ENGINE.compute(
        basket("DE", None, line("a", 11900), line("b", 999), shipping=495, inclusive=True)
    )
    # 11900 * 0.19/1.19 = 1900 exactly; 999 -> 159.504 -> 160; shipping 495 -> 79.03 -> 79
    assert result.lines == {"a": 1900, "b": 160}
    assert result.shipping_tax == 79
    assert result.total_tax == 2139
    assert rows(result) == [("DE VAT", "0.19", 2139)]

    # UK 20%: tax = amount / 6. 15p -> 2.5 -> 2 and 9p -> 1.5 -> 2 (half-even).
    uk = ENGINE.compute(basket("UK", None, line("x", 15), line("y", 9), inclusive=True))
    assert uk.lines == {"x": 2, "y": 2}
    assert rows(uk) == [("GB VAT", "0.20", 4)]


def test_reduced_rates_by_tax_class() -> None:
    de = ENGINE.compute(
        basket(
            "DE",
            None,
            line("book", 1070, "reduced"),
            line("tv", 11900),
            line("gift-card", 5000, "exempt"),
            line("odd", 1190, "no-such-class"),  # an unknown class pays the standard rate
            inclusive=True,
        )
    )
    assert de.lines == {"book": 70, "tv": 1900, "gift-card": 0, "odd": 190}
    assert rows(de) == [("DE VAT", "0.19", 2090), ("DE VAT", "0.07", 70), ("DE VAT", "0", 0)]

    fr = ENGINE.compute(
        basket(
            "FR",
            None,
            line("food", 10550, "reduced"),
            line("meal", 1100, "intermediate"),
            line("drug", 10210, "super_reduced"),
            inclusive=True,
        )
    )
    assert fr.lines == {"food": 550, "meal": 100, "drug": 210}
    nl = ENGINE.compute(basket("NL", None, line("a", 10900, "reduced"), inclusive=True))
    assert nl.lines == {"a": 900}


def test_zero_decimal_currency_rounds_to_whole_yen() -> None:
    inclusive = ENGINE.compute(
        basket(
            "JP",
            None,
            line("tea", 1080, "reduced"),
            line("pot", 1000),
            currency="JPY",
            inclusive=True,
        )
    )
    assert inclusive.lines == {"tea": 80, "pot": 91}  # 1000 / 11 = 90.9 -> 91
    assert rows(inclusive) == [
        ("JP consumption tax", "0.10", 91),
        ("JP consumption tax", "0.08", 80),
    ]

    exclusive = ENGINE.compute(
        basket("JP", None, line("a", 125), line("b", 135), shipping=45, currency="JPY")
    )
    assert exclusive.lines == {"a": 12, "b": 14}  # 12.5 -> 12, 13.5 -> 14
    assert exclusive.shipping_tax == 4  # 4.5 -> 4


@pytest.mark.parametrize(
    ("vat_id", "country"),
    [
        ("DE123456789", "DE"),
        ("FR40303265045", "FR"),
        ("fr 40 303 265 045", "FR"),
        ("FRXA123456789", "FR"),
        ("NL123456789B01", "NL"),
        ("IT12345678901", "IT"),
        ("ESB12345678", "ES"),
        ("ES12345678Z", "ES"),
        ("BE0123456789", "BE"),
        ("ATU12345678", "AT"),
        ("PL123-456-78-90", "PL"),
        ("SE123456789001", "SE"),
        ("IE1234567T", "IE"),
        ("IE1234567WA", "IE"),
        ("IE1A23456B", "IE"),
        ("EL123456789", "GR"),
        ("CZ12345678", "CZ"),  # generic pattern for states without their own
    ],
)
def test_valid_vat_id_formats(vat_id: str, country: str) -> None:
    parsed = parse_vat_id(vat_id)
    assert parsed is not None and parsed[0] == country


@pytest.mark.parametrize(
    "vat_id",
    [
        "DE12345678",  # 8 digits, DE has 9
        "FR123",
        "NL123456789",  # no B01 suffix
        "ATU1234567",
        "BE2123456789",  # must start 0 or 1
        "SE123456789012",  # must end 01
        "IT1234567890",
        "ESB1234567",
        "PL12345678901",
        "IE12345678",
        "GR123456789",  # Greece's prefix is EL
        "GB123456789",  # not an EU member state
        "123456789",  # no prefix
        "",
    ],
)
def test_malformed_vat_ids(vat_id: str) -> None:
    assert parse_vat_id(vat_id) is None


def test_b2b_reverse_charge_needs_a_well_formed_vat_id() -> None:
    lines = (line("a", 11900),)
    valid = ENGINE.compute(
        basket("FR", None, *lines, shipping=500, inclusive=True, vat_id="FR40303265045")
    )
    assert valid.exempt_reason == "reverse_charge"
    assert valid.lines == {"a": 0} and valid.shipping_tax == 0 and valid.total_tax == 0
    assert valid.breakdown == ()

    malformed = ENGINE.compute(basket("FR", None, *lines, inclusive=True, vat_id="FR123"))
    assert malformed.exempt_reason is None
    assert malformed.lines == {"a": 1983}  # French VAT, 20% of the gross / 1.2

    nl = ENGINE.compute(basket("NL", None, *lines, inclusive=True, vat_id="NL 1234.56.789.B01"))
    assert nl.exempt_reason == "reverse_charge"


def test_b2b_in_the_merchants_own_country_or_outside_the_eu_is_taxed() -> None:
    lines = (line("a", 11900),)
    same = ENGINE.compute(basket("DE", None, *lines, inclusive=True, vat_id="DE123456789"))
    assert same.exempt_reason is None and same.lines == {"a": 1900}
    # A buyer in France with the merchant's own country's VAT number: no reverse charge.
    home_id = ENGINE.compute(basket("FR", None, *lines, inclusive=True, vat_id="DE123456789"))
    assert home_id.exempt_reason is None
    uk = ENGINE.compute(basket("GB", None, *lines, inclusive=True, vat_id="FR40303265045"))
    assert uk.exempt_reason is None and uk.total_tax == 1983
    # Without an origin country the engine cannot tell a cross-border supply.
    no_origin = RulesTaxEngine(TaxRules(zones=default_rules().zones, origin_country=None))
    assert (
        no_origin.compute(basket("FR", None, *lines, vat_id="FR40303265045")).exempt_reason is None
    )


def test_exempt_customer_pays_no_tax() -> None:
    result = ENGINE.compute(basket("US", "NY", line("a", 2000), shipping=1000, exempt=True))
    assert result.total_tax == 0 and result.lines == {"a": 0}
    assert result.exempt_reason == "customer_exempt"


def test_unknown_country_is_not_taxed_and_says_so() -> None:
    result = ENGINE.compute(basket("ZZ", "Q1", line("a", 2000), shipping=300))
    assert result.lines == {"a": 0} and result.shipping_tax == 0 and result.total_tax == 0
    assert result.source == "builtin" and result.exempt_reason is None
    assert rows(result) == [("No tax zone for ZZ-Q1", "0", 0)]


def test_rules_load_from_json_and_round_trip() -> None:
    text = json.dumps(
        {
            "origin_country": "NL",
            "zones": [
                {"country": "NL", "name": "BTW", "rates": {"standard": 0.21, "reduced": "0.09"}},
                {
                    "country": "US",
                    "region": "us-ny",
                    "rates": {"standard": "0.04"},
                    "shipping_taxable": True,
                    "product_types": {"food": "zero"},
                },
            ],
        }
    )
    rules = TaxRules.from_json(text)
    assert rules.origin_country == "NL"
    assert TaxRules.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules
    engine = RulesTaxEngine(rules)
    nl = engine.compute(basket("NL", None, line("a", 12100), inclusive=True))
    assert rows(nl) == [("BTW", "0.21", 2100)]
    ny = engine.compute(
        basket("US", "NY", line("a", 1000), line("f", 1000, product_type="food"), shipping=100)
    )
    assert (ny.lines, ny.shipping_tax, rows(ny)[0][0]) == ({"a": 40, "f": 0}, 4, "US-NY")
    # No reverse charge into the merchant's own country, even with another state's ID.
    assert engine.compute(basket("NL", None, line("a", 100), vat_id="DE123456789")).total_tax == 21


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"zones": [{"country": "DE", "rates": {"reduced": "0.07"}}]}, "standard"),
        ({"zones": [{"country": "DE", "rates": {"standard": "19%"}}]}, "decimal rate"),
        ({"zones": [{"country": "DE", "rates": {"standard": "19"}}]}, "fraction from 0 to 1"),
        ({"zones": [{"country": "Germany", "rates": {"standard": "0.19"}}]}, "alpha-2"),
        ({"zones": [{"country": "DE", "rates": {"standard": "0.19"}, "vat": 1}]}, "unknown keys"),
        ({"zones": [{"country": "DE", "rates": {"standard": "0.19"}}] * 2}, "twice"),
        ({"zones": {}}, "zones"),
    ],
)
def test_bad_rules_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(TaxRulesError, match=message):
        TaxRules.from_dict(data)


def test_request_line_ids_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        basket("DE", None, line("a", 1), line("a", 2))


# ============================================================ the stand-in service


def _tax_at_10_percent(amount: int, inclusive: bool) -> int:
    rate = Decimal("0.10")
    raw = amount * rate / (1 + rate) if inclusive else amount * rate
    return int(raw.to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass
class StandIn:
    """What the stand-in saw, and what it should do next.

    ``script`` holds one behaviour per coming call ("ok", "slow", "500", "400",
    "not-json", or a JSON-able object to answer verbatim); when empty it answers "ok".
    """

    url: str
    calls: int = 0
    script: list[Any] = field(default_factory=list)
    delay: float = 0.5
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)

    def reset(self) -> None:
        self.calls = 0
        self.script.clear()
        self.bodies.clear()
        self.auth.clear()
        self.peers.clear()


def _stand_in_app(state: StandIn) -> Starlette:
    async def calculate(request: Request) -> Response:
        state.calls += 1
        state.auth.append(request.headers.get("authorization"))
        if request.client:
            state.peers.append((request.client.host, request.client.port))
        body = await request.json()
        state.bodies.append(body)
        action = state.script.pop(0) if state.script else "ok"
        if action == "slow":
            await asyncio.sleep(state.delay)
        elif action == "500":
            return JSONResponse({"error": "internal"}, status_code=500)
        elif action == "400":
            return JSONResponse({"error": "bad request"}, status_code=400)
        elif action == "not-json":
            return PlainTextResponse("<html>oops</html>")
        elif action != "ok":
            return JSONResponse(action)
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        inclusive = body["pricesIncludeTax"]
        lines = [
            {"lineId": item["lineId"], "tax": _tax_at_10_percent(item["amount"], inclusive)}
            for item in body["lines"]
        ]
        shipping = _tax_at_10_percent(body["shipping"], inclusive)
        total = sum(item["tax"] for item in lines) + shipping
        return JSONResponse(
            {
                "lines": lines,
                "shippingTax": shipping,
                "breakdown": [{"name": "Stand-in tax", "rate": "0.10", "amount": total}],
                "exemptReason": None,
                "totalTax": total,
            }
        )

    return Starlette(routes=[Route("/v1/tax/calculate", calculate, methods=["POST"])])


@pytest.fixture(scope="module")
def stand_in_server() -> Iterator[StandIn]:
    sock = listening_socket()
    state = StandIn(url=url_of(sock))
    with serve_on(
        sock, _stand_in_app(state), join=5, log_level="warning", timeout_graceful_shutdown=1
    ):
        yield state


@pytest.fixture
def service(stand_in_server: StandIn) -> StandIn:
    stand_in_server.reset()
    return stand_in_server


def http_engine(url: str, **options: Any) -> HttpTaxEngine:
    defaults: dict[str, Any] = {
        "api_key": API_KEY,
        "timeout": 0.2,
        "retries": 2,
        "backoff": 0.01,
        "fallback": ENGINE,
    }
    return HttpTaxEngine(url, **(defaults | options))


EU_BASKET = basket(
    "DE",
    None,
    line("a", 11900),
    line("b", 999, "reduced"),
    shipping=495,
    inclusive=True,
    currency="EUR",
)


# ================================================================== HTTP connector


async def test_service_answer_and_wire_format(service: StandIn) -> None:
    async with http_engine(service.url) as engine:
        result = await engine.calculate(EU_BASKET)
        other = await engine.calculate(basket("US", "NY", line("x", 1000), shipping=100))

    assert result.source == "service"
    assert result.lines == {"a": 1082, "b": 91}  # 10% extracted: 11900/11, 999/11
    assert result.shipping_tax == 45
    assert result.total_tax == 1218
    assert rows(result) == [("Stand-in tax", "0.10", 1218)]
    assert other.lines == {"x": 100} and other.shipping_tax == 10
    assert service.calls == 2
    assert service.auth == [f"Bearer {API_KEY}"] * 2
    assert service.bodies[0] == {
        "currency": "EUR",
        "country": "DE",
        "region": None,
        "postalCode": None,
        "pricesIncludeTax": True,
        "lines": [
            {
                "lineId": "a",
                "amount": 11900,
                "quantity": 1,
                "taxClass": "standard",
                "productType": "",
            },
            {"lineId": "b", "amount": 999, "quantity": 1, "taxClass": "reduced", "productType": ""},
        ],
        "shipping": 495,
        "customerVatId": None,
        "customerExempt": False,
    }
    # One client: the second call reused the first call's connection.
    assert service.peers[0] == service.peers[1]


async def test_repeat_basket_is_answered_from_the_cache(service: StandIn) -> None:
    now = [1000.0]
    async with http_engine(service.url, cache_ttl=300, clock=lambda: now[0]) as engine:
        first = await engine.calculate(EU_BASKET)
        first.lines["a"] = -1  # the caller's copy; the cache keeps its own
        again = await engine.calculate(EU_BASKET)
        assert service.calls == 1
        assert again.lines == {"a": 1082, "b": 91} and again.source == "service"

        await engine.calculate(basket("US", "NY", line("x", 1000)))  # another basket
        assert service.calls == 2

        now[0] += 301  # past the TTL
        await engine.calculate(EU_BASKET)
        assert service.calls == 3

        # Identical baskets asked at once share one call.
        engine.clear_cache()
        results = await asyncio.gather(*(engine.calculate(EU_BASKET) for _ in range(5)))
        assert service.calls == 4
        assert {r.total_tax for r in results} == {1218}


async def test_slow_service_is_retried_then_the_fallback_answers(service: StandIn) -> None:
    service.script[:] = ["slow"] * 3
    async with http_engine(service.url, timeout=0.2, retries=2) as engine:
        started = time.monotonic()
        result = await engine.calculate(EU_BASKET)
        elapsed = time.monotonic() - started
        assert service.calls == 3
        assert elapsed < 1.5
        assert result.source == "fallback"
        builtin = ENGINE.compute(EU_BASKET)
        assert (result.lines, result.shipping_tax, result.total_tax, result.breakdown) == (
            builtin.lines,
            builtin.shipping_tax,
            builtin.total_tax,
            builtin.breakdown,
        )
        assert result.lines == {"a": 1900, "b": 65}

        # Fallback answers are not cached: the next call asks the service again.
        assert (await engine.calculate(EU_BASKET)).source == "service"
        assert service.calls == 4


async def test_a_5xx_is_retried_and_the_retry_succeeds(service: StandIn) -> None:
    service.script[:] = ["500"]
    async with http_engine(service.url) as engine:
        result = await engine.calculate(EU_BASKET)
    assert service.calls == 2
    assert result.source == "service" and result.total_tax == 1218


async def test_a_4xx_is_not_retried(service: StandIn) -> None:
    service.script[:] = ["400"]
    async with http_engine(service.url) as engine:
        result = await engine.calculate(EU_BASKET)
    assert service.calls == 1
    assert result.source == "fallback" and result.total_tax == ENGINE.compute(EU_BASKET).total_tax


async def test_a_wrong_api_key_is_a_4xx(service: StandIn) -> None:
    async with http_engine(service.url, api_key="wrong") as engine:
        result = await engine.calculate(EU_BASKET)
    assert service.calls == 1 and result.source == "fallback"


@pytest.mark.parametrize(
    "answer",
    [
        "not-json",
        [],
        {"shippingTax": 0},
        {"lines": [{"lineId": "a", "tax": 1}], "shippingTax": 0},  # line b missing
        {
            "lines": [
                {"lineId": "a", "tax": 1},
                {"lineId": "b", "tax": 1},
                {"lineId": "z", "tax": 1},
            ],
            "shippingTax": 0,
        },
        {
            "lines": [
                {"lineId": "a", "tax": 1},
                {"lineId": "a", "tax": 1},
                {"lineId": "b", "tax": 1},
            ],
            "shippingTax": 0,
        },
        {"lines": [{"lineId": "a", "tax": -1}, {"lineId": "b", "tax": 1}], "shippingTax": 0},
        {"lines": [{"lineId": "a", "tax": 1.5}, {"lineId": "b", "tax": 1}], "shippingTax": 0},
        {"lines": [{"lineId": "a", "tax": "1"}, {"lineId": "b", "tax": 1}], "shippingTax": 0},
        {"lines": [{"lineId": "a", "tax": True}, {"lineId": "b", "tax": 1}], "shippingTax": 0},
        {"lines": [{"lineId": "a", "tax": 1}, {"lineId": "b", "tax": 1}]},  # no shippingTax
        {
            "lines": [{"lineId": "a", "tax": 1}, {"lineId": "b", "tax": 1}],
            "shippingTax": 0,
            "totalTax": 3,
        },
        {
            "lines": [{"lineId": "a", "tax": 1}, {"lineId": "b", "tax": 1}],
            "shippingTax": 0,
            "breakdown": [{"name": "x", "rate": "lots", "amount": 2}],
        },
    ],
)
async def test_a_malformed_answer_means_the_fallback(service: StandIn, answer: Any) -> None:
    service.script[:] = [answer]
    async with http_engine(service.url) as engine:
        result = await engine.calculate(EU_BASKET)
    assert service.calls == 1  # a bad answer is not retried
    assert result.source == "fallback"
    assert result.total_tax == ENGINE.compute(EU_BASKET).total_tax


async def test_a_minimal_answer_is_accepted(service: StandIn) -> None:
    service.script[:] = [
        {"lines": [{"lineId": "b", "tax": 7}, {"lineId": "a", "tax": 5}], "shippingTax": 0}
    ]
    async with http_engine(service.url) as engine:
        result = await engine.calculate(EU_BASKET)
    assert result.source == "service"
    assert result.lines == {"a": 5, "b": 7} and result.total_tax == 12 and result.breakdown == ()


async def test_without_a_fallback_the_failure_is_tax_unavailable(service: StandIn) -> None:
    service.script[:] = ["500"] * 3
    async with http_engine(service.url, fallback=None) as engine:
        with pytest.raises(TaxUnavailable, match=r"HTTP 500.*after 3 attempts"):
            await engine.calculate(EU_BASKET)
    assert service.calls == 3


async def test_an_unreachable_service_means_the_fallback() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with http_engine(f"http://127.0.0.1:{port}", retries=1) as engine:
        result = await engine.calculate(EU_BASKET)
    assert result.source == "fallback" and result.lines == {"a": 1900, "b": 65}
    async with http_engine(f"http://127.0.0.1:{port}", retries=0, fallback=None) as engine:
        with pytest.raises(TaxUnavailable, match="could not reach"):
            await engine.calculate(EU_BASKET)
