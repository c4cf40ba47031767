"""quote_prices on both databases: channel prices, customer-group price lists, volume
breaks, list windows and priority, and a constant number of statements."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from hub.db.database import Reader
from hub.demo import WHOLESALE_BREAKS
from hub.domain import catalog
from hub.domain.catalog import PriceQuote, quote_prices
from hub.domain.catalog import price_lists as pricing
from hub.domain.errors import DomainError
from tests.helpers.client import Hub

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _uid() -> str:
    return uuid.uuid4().hex[:8]


async def _web(hub: Hub) -> catalog.ChannelRecord:
    reader = Reader(hub.db)
    try:
        ch = await catalog.channel_by_handle(reader, "web")
    finally:
        await reader.close()
    assert ch is not None
    return ch


async def _wholesale_entries(hub: Hub) -> dict[int, dict[int, int]]:
    """The demo wholesale list: {variant: {min_quantity: amount}}."""
    rows = await hub.rows(
        "SELECT e.variant_id, e.min_quantity, e.amount FROM price_list_entries e "
        "JOIN price_lists l ON l.id = e.price_list_id WHERE l.handle = 'wholesale-web'"
    )
    out: dict[int, dict[int, int]] = {}
    for r in rows:
        out.setdefault(r.variant_id, {})[r.min_quantity] = r.amount
    return out


async def _channel_price(hub: Hub, variant_pk: int, channel: str = "web") -> tuple[int, int | None]:
    (row,) = await hub.rows(
        "SELECT p.amount, p.compare_at_amount FROM variant_prices p "
        "JOIN channels c ON c.id = p.channel_id "
        "WHERE p.variant_id = :v AND c.handle = :c",
        v=variant_pk,
        c=channel,
    )
    return row.amount, row.compare_at_amount


async def _new_variants(
    hub: Hub, n: int, *, price: str = "20.00", compare_at: str | None = None
) -> list[int]:
    """A fresh product with ``n`` variants priced on the web channel only. It stays a
    draft, so storefront listings that later tests count never show it."""
    h = f"price-{_uid()}"
    pk = await catalog.create_product(
        hub.db,
        catalog.ProductInput(
            handle=h,
            title=f"Pricing {h}",
            status="DRAFT",
            options=[catalog.OptionInput("Size", [f"s{i}" for i in range(n)])],
            variants=[
                catalog.VariantInput(sku=f"{h}-{i}".upper(), options=[f"s{i}"]) for i in range(n)
            ],
        ),
    )
    async with hub.db.read() as conn:
        vpks = [
            r[0]
            for r in (
                await conn.execute(
                    text("SELECT id FROM variants WHERE product_id = :p ORDER BY id"), {"p": pk}
                )
            ).all()
        ]
    await catalog.set_prices(
        hub.db,
        [
            catalog.PriceInput(
                v,
                "web",
                Decimal(price),
                compare_at_amount=None if compare_at is None else Decimal(compare_at),
            )
            for v in vpks
        ],
    )
    return vpks


async def _list(
    hub: Hub,
    group: str,
    entries: list[tuple[int, int, str]],
    *,
    channel: str = "web",
    **kw: object,
) -> int:
    pk = await pricing.create_price_list(
        hub.db,
        pricing.PriceListInput(
            handle=f"pl-{_uid()}", name="Test list", channel=channel, customer_group=group, **kw
        ),
    )
    await pricing.set_price_list_entries(
        hub.db, pk, [pricing.EntryInput(v, q, Decimal(a)) for v, q, a in entries]
    )
    return pk


async def _quote(hub: Hub, lines: dict[int, int], group: str | None, **kw: object) -> dict:
    async with hub.db.read() as conn:
        return await quote_prices(
            conn, kw.get("channel") or await _web(hub), lines, customer_group=group, now=NOW
        )


async def test_demo_wholesale_breaks(hub: Hub) -> None:
    entries = await _wholesale_entries(hub)
    assert len(entries) == 50
    assert all(set(tiers) == {q for q, _ in WHOLESALE_BREAKS} for tiers in entries.values())
    vpk = min(entries)
    base, compare_at = await _channel_price(hub, vpk)
    for qty, want in ((1, base), (9, base), (10, entries[vpk][10]), (49, entries[vpk][10])):
        got = (await _quote(hub, {vpk: qty}, "wholesale"))[vpk]
        assert got.unit_price == want, qty
    got = (await _quote(hub, {vpk: 50}, "wholesale"))[vpk]
    assert got == PriceQuote(
        unit_price=entries[vpk][50],
        compare_at=compare_at if compare_at is not None else base,
        currency="USD",
        source="price_list:wholesale-web",
    )
    assert entries[vpk][50] < entries[vpk][10] < base
    assert (await _quote(hub, {vpk: 9}, "wholesale"))[vpk].source == "channel"


async def test_no_group_or_a_group_without_a_list_pays_the_channel_price(hub: Hub) -> None:
    vpk = min(await _wholesale_entries(hub))
    base, compare_at = await _channel_price(hub, vpk)
    for group in (None, "retail", f"nobody-{_uid()}"):
        got = (await _quote(hub, {vpk: 100}, group))[vpk]
        assert got == PriceQuote(base, compare_at, "USD", "channel"), group


async def test_channel_as_pk_or_record_and_other_channels(hub: Hub) -> None:
    vpk = min(await _wholesale_entries(hub))
    web = await _web(hub)
    async with hub.db.read() as conn:
        by_pk = await quote_prices(conn, web.pk, {vpk: 10}, customer_group="wholesale", now=NOW)
        by_rec = await quote_prices(conn, web, {vpk: 10}, customer_group="wholesale", now=NOW)
        eu_pk = (await conn.execute(text("SELECT id FROM channels WHERE handle = 'eu'"))).scalar()
        eu = await quote_prices(conn, eu_pk, {vpk: 10}, customer_group="wholesale", now=NOW)
    assert by_pk == by_rec and by_pk[vpk].source == "price_list:wholesale-web"
    # The wholesale list is on the web channel: in the EU channel the EUR price stands.
    eur, _ = await _channel_price(hub, vpk, "eu")
    assert eu[vpk].currency == "EUR" and eu[vpk].unit_price == eur
    assert eu[vpk].source == "channel"


async def test_variants_without_a_channel_price_are_left_out(hub: Hub) -> None:
    (vpk,) = await _new_variants(hub, 1)
    group = f"g{_uid()}"
    await _list(hub, group, [(vpk, 1, "15")])
    await catalog.delete_prices(hub.db, [(vpk, "web")])
    assert await _quote(hub, {vpk: 5, 10**12: 1}, group) == {}
    assert await _quote(hub, {}, group) == {}


async def test_compare_at_rules(hub: Hub) -> None:
    plain, on_sale = await _new_variants(hub, 2, price="20.00")
    await catalog.set_prices(
        hub.db, [catalog.PriceInput(on_sale, "web", Decimal("20"), Decimal("30"))]
    )
    group = f"g{_uid()}"
    await _list(hub, group, [(plain, 1, "15"), (on_sale, 1, "15")])
    got = await _quote(hub, {plain: 1, on_sale: 1}, group)
    # No channel compare-at and a lower list price: the channel price becomes compare-at.
    assert (got[plain].unit_price, got[plain].compare_at) == (1500, 2000)
    assert (got[on_sale].unit_price, got[on_sale].compare_at) == (1500, 3000)
    # A list price above the channel price replaces it, with no made-up compare-at.
    (dear,) = await _new_variants(hub, 1, price="20.00")
    g2 = f"g{_uid()}"
    await _list(hub, g2, [(dear, 1, "25")])
    q = (await _quote(hub, {dear: 1}, g2))[dear]
    assert (q.unit_price, q.compare_at, q.currency) == (2500, None, "USD")


async def test_inactive_expired_and_future_lists_do_not_apply(hub: Hub) -> None:
    (vpk,) = await _new_variants(hub, 1, price="20.00")
    cases = {
        "inactive": {"active": False},
        "expired": {"starts_at": NOW - timedelta(days=30), "ends_at": NOW - timedelta(seconds=1)},
        "future": {"starts_at": NOW + timedelta(seconds=1)},
        "ends-now": {"ends_at": NOW},  # the window is [starts_at, ends_at)
    }
    for name, kw in cases.items():
        group = f"{name}-{_uid()}"
        await _list(hub, group, [(vpk, 1, "10")], **kw)
        got = (await _quote(hub, {vpk: 3}, group))[vpk]
        assert got.unit_price == 2000 and got.source == "channel", name
    group = f"open-{_uid()}"
    await _list(
        hub,
        group,
        [(vpk, 1, "10")],
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
    )
    assert (await _quote(hub, {vpk: 3}, group))[vpk].unit_price == 1000


async def test_priority_across_lists(hub: Hub) -> None:
    a, b = await _new_variants(hub, 2, price="20.00")
    group = f"prio-{_uid()}"
    first = await _list(hub, group, [(a, 1, "18"), (b, 50, "12")], priority=1)
    await _list(hub, group, [(a, 1, "16"), (b, 1, "17"), (b, 10, "15")], priority=5)
    first_handle = await _pk_handle(hub, first)
    got = await _quote(hub, {a: 1, b: 10}, group)
    # a: the priority-1 list prices it, even though the other list is cheaper.
    assert got[a].unit_price == 1800 and got[a].source == f"price_list:{first_handle}"
    # b: the priority-1 list has only a 50+ break, so the next list's best break applies.
    assert got[b].unit_price == 1500 and got[b].source != f"price_list:{first_handle}"
    got = await _quote(hub, {b: 60}, group)
    assert got[b].unit_price == 1200 and got[b].source == f"price_list:{first_handle}"


async def _pk_handle(hub: Hub, pk: int) -> str:
    return await hub.scalar("SELECT handle FROM price_lists WHERE id = :i", i=pk)


async def test_statement_count_is_constant(hub: Hub) -> None:
    entries = await _wholesale_entries(hub)
    vpks = sorted(entries)
    web = await _web(hub)
    counts = []
    for n in (5, 50):
        lines = {v: 10 + i for i, v in enumerate(vpks[:n])}
        async with hub.db.read() as conn:
            with hub.count_statements() as seen:
                got = await quote_prices(conn, web, lines, customer_group="wholesale", now=NOW)
        assert len(got) == n
        assert all(q.source == "price_list:wholesale-web" for q in got.values())
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 2
    async with hub.db.read() as conn:
        with hub.count_statements() as seen:
            await quote_prices(conn, web, {v: 1 for v in vpks}, customer_group=None, now=NOW)
    assert len(seen) == 1


async def test_currency_mismatch_and_bad_lists_are_rejected(hub: Hub) -> None:
    before = await hub.scalar("SELECT count(*) FROM price_lists")
    bad = [
        ({"currency": "EUR"}, "CURRENCY_MISMATCH"),
        ({"channel": "nowhere"}, "NOT_FOUND"),
        ({"customer_group": "Not A Handle"}, "INVALID"),
        ({"starts_at": NOW, "ends_at": NOW}, "INVALID"),
    ]
    for kw, code in bad:
        data = {"handle": f"bad-{_uid()}", "name": "Bad", "channel": "web", "customer_group": "x"}
        data.update(kw)  # type: ignore[arg-type]
        with pytest.raises(DomainError) as err:
            await pricing.create_price_list(hub.db, pricing.PriceListInput(**data))  # type: ignore[arg-type]
        assert [e.code for e in err.value.errors] == [code], kw
    assert await hub.scalar("SELECT count(*) FROM price_lists") == before
