"""The hub side of catalog imports (``catalog_sync.upsert_catalog`` / ``set_stock``), on
both databases: rows in, one result per row out, and the effects checked through the
admin and storefront API (products, options, prices and ranges, search, stock levels
and their ledger), plus the inventory audit and the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from connectors.base import CatalogRow, RowResult, StockRow
from hub.domain.integrations.catalog_sync import set_stock, upsert_catalog
from hub.domain.inventory import verify
from tests.helpers.app import hub_of
from tests.helpers.client import Hub
from tests.helpers.feed import movements, product_view, search, unique


async def _upsert(hub: Hub, rows: Sequence[CatalogRow], **kw: int) -> list[RowResult]:
    return await upsert_catalog(hub.db, rows, publish=hub_of(hub.app).publish, **kw)


def _statuses(results: list[RowResult]) -> list[tuple[str, str, str | None]]:
    return [(r.key, r.status, r.code) for r in results]


async def _outbox_count(hub: Hub, variant_ids: Sequence[str]) -> int:
    pks = [int(v.rsplit("/", 1)[1]) for v in variant_ids]
    rows = await hub.rows("SELECT payload FROM outbox WHERE topic = 'inventory.changed'")
    found = 0
    for r in rows:
        payload = r.payload if isinstance(r.payload, dict) else __import__("json").loads(r.payload)
        found += payload.get("variantId") in pks
    return found


async def test_rows_create_products_variants_prices_and_stock(hub: Hub) -> None:
    p = unique("tee")
    rows = [
        CatalogRow(
            sku=f"{p}-S",
            product_handle=p,
            product_title="Feed tee",
            description="Cotton",
            active=True,
            barcode="4006381333931",
            option_names=["Size"],
            option_values=["S"],
            tax_class="standard",
            weight_grams=180,
            prices={"web": 1250, "eu": 1100},
            stock={"wh-newark": 5, "wh-rotterdam": 2},
            attributes={"material": "cotton", "organic": True},
        ),
        CatalogRow(sku=f"{p}-M", product_handle=p, option_values=["M"], prices={"web": 1400}),
        CatalogRow(sku=f"{p}-L", product_handle=p, option_values=["L"], stock={"wh-newark": 0}),
    ]
    results = await _upsert(hub, rows)
    assert [r.status for r in results] == ["created"] * 3
    assert all(isinstance(r.id, int) for r in results)

    view = await product_view(hub, p)
    assert view is not None
    assert (view["title"], view["description"], view["status"]) == ("Feed tee", "Cotton", "ACTIVE")
    assert view["options"] == [("Size", ["S", "M", "L"])]
    assert view["range"] == ("12.50", "14.00")
    assert view["attributes"] == {"material": ("STRING", "cotton"), "organic": ("BOOLEAN", "true")}
    s, m, large = (view["variants"][f"{p}-{k}"] for k in "SML")
    assert s["options"] == [("Size", "S")] and s["title"] == "S" and s["weight"] == 180
    assert s["barcode"] == "4006381333931" and [s["position"], m["position"]] == [0, 1]
    assert s["stock"] == {"wh-newark": 5, "wh-rotterdam": 2}
    assert large["stock"] == {}  # 0 on hand where no level was: nothing to write
    eu = await product_view(hub, p, "eu")
    assert eu is not None and eu["variants"][f"{p}-S"]["currency"] == "EUR"
    assert eu["range"] is not None and eu["range"][0].startswith("11")

    # Stock moved through the ledger (reason erp_sync, actor connector), with events.
    assert await movements(hub, s["id"]) in (
        [("erp_sync", 2, "connector", "wh-rotterdam"), ("erp_sync", 5, "connector", "wh-newark")],
        [("erp_sync", 5, "connector", "wh-newark"), ("erp_sync", 2, "connector", "wh-rotterdam")],
    )
    assert await _outbox_count(hub, [s["id"]]) == 2
    # Search text includes the SKUs; the storefront sees the active, priced product.
    assert await search(hub, f"sku:{p}-M") == [p]
    assert await verify(hub.db) == []


async def test_the_same_rows_again_write_nothing_and_a_change_writes_one(hub: Hub) -> None:
    p = unique("mug")
    rows = [
        CatalogRow(
            sku=f"{p}-{i}",
            product_handle=p,
            product_title="Mug",
            option_values=[c],
            prices={"web": 800 + i},
            stock={"wh-newark": 3},
        )
        for i, c in enumerate(["Red", "Blue", "Green"])
    ]
    assert [r.status for r in await _upsert(hub, rows)] == ["created"] * 3
    view = await product_view(hub, p)
    assert view is not None
    vid = view["variants"][f"{p}-1"]["id"]
    ledger = await movements(hub, vid)
    events = await _outbox_count(hub, [vid])
    stamp = await hub.scalar("SELECT updated_at FROM products WHERE handle = :h", h=p)

    again = await _upsert(hub, rows)
    assert [r.status for r in again] == ["unchanged"] * 3
    assert await movements(hub, vid) == ledger and await _outbox_count(hub, [vid]) == events
    assert await hub.scalar("SELECT updated_at FROM products WHERE handle = :h", h=p) == stamp

    changed = list(rows)
    changed[1] = CatalogRow(
        sku=f"{p}-1", product_handle=p, prices={"web": 999}, stock={"wh-newark": 1}
    )
    res = await _upsert(hub, changed)
    assert [r.status for r in res] == ["unchanged", "updated", "unchanged"]
    view = await product_view(hub, p)
    assert view is not None
    assert view["variants"][f"{p}-1"]["price"] in ("9.99",)
    assert view["variants"][f"{p}-1"]["stock"] == {"wh-newark": 1}
    assert view["range"] == ("8.00", "9.99")
    assert (await movements(hub, vid))[0] == ("erp_sync", -2, "connector", "wh-newark")
    assert await verify(hub.db) == []


async def test_rejected_rows_say_why_and_the_rest_are_written(hub: Hub) -> None:
    p, other = unique("bag"), unique("box")
    seeded = await _upsert(
        hub,
        [
            CatalogRow(sku=f"{other}-1", product_handle=other, product_title="Box"),
            CatalogRow(sku=f"{p}-A", product_handle=p, product_title="Bag", option_values=["A"]),
        ],
    )
    assert [r.status for r in seeded] == ["created", "created"]
    rows = [
        CatalogRow(sku=f"{p}-B", product_handle=p, option_values=["B"], prices={"web": 100}),
        CatalogRow(sku=f"{p}-C", product_handle=p, prices={"mars": 1}),
        CatalogRow(sku=f"{p}-D", product_handle=p, option_values=["D"], stock={"nowhere": 1}),
        CatalogRow(sku=f"{p}-E", product_handle=p, option_values=["E"], prices={"web": -1}),
        CatalogRow(sku=f"{p}-B", product_handle=p, option_values=["B2"]),
        CatalogRow(sku=f"{other}-1", product_handle=p, option_values=["X"]),
        CatalogRow(sku=f"{p}-F", product_handle=p, option_values=["A"]),
        CatalogRow(
            sku=f"{p}-G", product_handle=p, option_values=["G", "H"], option_names=["S", "C"]
        ),
        CatalogRow(sku=f"{p}-H", product_handle="Not A Handle"),
        CatalogRow(sku=f"{p}-I", product_handle=unique("new")),
        CatalogRow(sku="", product_handle=p),
        CatalogRow(sku=f"{p}-J", product_handle=p, option_values=["J"], tax_class="no such!"),
        CatalogRow(sku=f"{p}-K", product_handle=p, option_values=["K"], item="f.csv row 9 (K)"),
    ]
    got = _statuses(await _upsert(hub, rows))
    assert got == [
        (f"{p}-B", "created", None),
        (f"{p}-C", "rejected", "UNKNOWN_CHANNEL"),
        (f"{p}-D", "rejected", "UNKNOWN_LOCATION"),
        (f"{p}-E", "rejected", "INVALID_PRICE"),
        (f"{p}-B", "rejected", "DUPLICATE_SKU"),
        (f"{other}-1", "rejected", "SKU_TAKEN"),
        (f"{p}-F", "rejected", "DUPLICATE_OPTIONS"),
        (f"{p}-G", "rejected", "OPTIONS_MISMATCH"),
        (f"{p}-H", "rejected", "INVALID_HANDLE"),
        (f"{p}-I", "rejected", "MISSING_TITLE"),
        ("", "rejected", "INVALID_SKU"),
        (f"{p}-J", "rejected", "INVALID_TAX_CLASS"),
        ("f.csv row 9 (K)", "created", None),  # the source's name for the row is its key
    ]
    view = await product_view(hub, p)
    assert view is not None
    assert sorted(view["variants"]) == sorted([f"{p}-A", f"{p}-B", f"{p}-K"])
    assert view["options"] == [("Option 1", ["A", "B", "K"])]
    boxed = await product_view(hub, other)
    assert boxed is not None and list(boxed["variants"]) == [f"{other}-1"]


async def test_option_changes_product_fields_and_batches(hub: Hub) -> None:
    p = unique("cap")
    rows = [
        CatalogRow(
            sku=f"{p}-{i}",
            product_handle=p,
            product_title="Cap",
            option_names=["Colour"],
            option_values=[c],
            prices={"web": 500 + i},
        )
        for i, c in enumerate(["Red", "Blue", "Black", "White", "Grey"])
    ]
    # Two rows per transaction: the product is made in the first batch and grows after.
    assert [r.status for r in await _upsert(hub, rows, batch_size=2)] == ["created"] * 5
    view = await product_view(hub, p)
    assert view is not None and view["options"] == [
        ("Colour", ["Red", "Blue", "Black", "White", "Grey"])
    ]
    assert view["range"] == ("5.00", "5.04")
    # A variant moves to a new value (the old one leaves the product's options), the
    # product is renamed, archived stays archived on active=false, and it goes active.
    res = await _upsert(
        hub,
        [
            CatalogRow(sku=f"{p}-1", product_handle=p, option_values=["Navy"]),
            CatalogRow(sku=f"{p}-2", product_handle=p, product_title="Cap II", active=False),
        ],
    )
    assert [r.status for r in res] == ["updated", "updated"]
    view = await product_view(hub, p)
    assert view is not None
    assert view["options"] == [("Colour", ["Red", "Black", "White", "Grey", "Navy"])]
    assert view["variants"][f"{p}-1"]["title"] == "Navy"
    assert (view["title"], view["status"]) == ("Cap II", "DRAFT")
    res = await _upsert(hub, [CatalogRow(sku=f"{p}-0", product_handle=p, active=True)])
    assert [r.status for r in res] == ["updated"]
    view = await product_view(hub, p)
    assert view is not None and view["status"] == "ACTIVE"
    assert await search(hub, "cap ii") and p in await search(hub, "cap ii")


async def test_set_stock_goes_through_the_ledger(hub: Hub) -> None:
    p = unique("sock")
    await _upsert(hub, [CatalogRow(sku=f"{p}-1", product_handle=p, product_title="Sock")])
    res = await set_stock(
        hub.db,
        [
            StockRow(f"{p}-1", "wh-newark", 12),
            StockRow(f"{p}-1", "store-soho", 0),
            StockRow(f"{p}-1", "wh-nowhere", 1),
            StockRow("no-such-sku", "wh-newark", 1),
            StockRow(f"{p}-1", "wh-newark", 13),
            StockRow(f"{p}-1", "wh-rotterdam", -1),
        ],
        publish=hub_of(hub.app).publish,
    )
    assert _statuses(res) == [
        (f"{p}-1@wh-newark", "updated", None),
        (f"{p}-1@store-soho", "unchanged", None),
        (f"{p}-1@wh-nowhere", "rejected", "UNKNOWN_LOCATION"),
        ("no-such-sku@wh-newark", "rejected", "UNKNOWN_SKU"),
        (f"{p}-1@wh-newark", "rejected", "DUPLICATE_SKU"),
        (f"{p}-1@wh-rotterdam", "rejected", "INVALID_QUANTITY"),
    ]
    view = await product_view(hub, p)
    assert view is not None and view["variants"][f"{p}-1"]["stock"] == {"wh-newark": 12}
    vid = view["variants"][f"{p}-1"]["id"]
    assert await movements(hub, vid) == [("erp_sync", 12, "connector", "wh-newark")]
    again = await set_stock(
        hub.db, [StockRow(f"{p}-1", "wh-newark", 12)], publish=hub_of(hub.app).publish
    )
    assert _statuses(again) == [(f"{p}-1@wh-newark", "unchanged", None)]
    # A bundle holds no stock of its own: refused, nothing written.
    kit = unique("kit")
    made = await _upsert(
        hub,
        [
            CatalogRow(
                sku=f"{kit}-box", product_handle=kit, product_title="Kit", option_values=["Box"]
            ),
            CatalogRow(sku=f"{kit}-part", product_handle=kit, option_values=["Part"]),
        ],
    )
    res = await hub.admin(
        """mutation($v: ID!, $c: [BundleComponentInput!]!) {
        productVariantBundleComponentsSet(variantId: $v, components: $c) {
          userErrors { code } } }""",
        {
            "v": f"gid://hub/ProductVariant/{made[0].id}",
            "c": [{"variantId": f"gid://hub/ProductVariant/{made[1].id}", "quantity": 2}],
        },
    )
    assert res["data"]["productVariantBundleComponentsSet"]["userErrors"] == []
    refused = await set_stock(
        hub.db, [StockRow(f"{kit}-box", "wh-newark", 1)], publish=hub_of(hub.app).publish
    )
    assert _statuses(refused) == [(f"{kit}-box@wh-newark", "rejected", "NOT_TRACKED")]
    row = CatalogRow(sku=f"{kit}-box", product_handle=kit, stock={"wh-newark": 1})
    assert _statuses(await _upsert(hub, [row])) == [(f"{kit}-box", "rejected", "NOT_TRACKED")]
    kit_view = await product_view(hub, kit)
    assert kit_view is not None and kit_view["variants"][f"{kit}-box"]["stock"] == {}
    assert await movements(hub, vid) == [("erp_sync", 12, "connector", "wh-newark")]
    assert await verify(hub.db) == []


async def test_two_imports_of_the_same_new_rows_at_once(hub: Hub) -> None:
    """Two connectors race to create the same products and SKUs: the one that loses a
    unique constraint retries its rows one by one and finds them made, so every row
    ends created, updated or unchanged, each product once, the ledger in step."""
    p = unique("race")
    rows = [
        CatalogRow(
            sku=f"{p}-{i}",
            product_handle=f"{p}-{i // 3}",
            product_title="Race",
            option_values=[str(i % 3)],
            prices={"web": 100 + i},
            stock={"wh-newark": i},
        )
        for i in range(30)
    ]
    first, second = await asyncio.gather(
        _upsert(hub, rows, batch_size=10), _upsert(hub, list(reversed(rows)), batch_size=10)
    )
    statuses = {r.status for r in first + second}
    assert statuses <= {"created", "updated", "unchanged"}, first + second
    created = [r.key for r in first + second if r.status == "created"]
    assert sorted(created) == sorted(row.sku for row in rows)  # each SKU made once
    for k in range(10):
        view = await product_view(hub, f"{p}-{k}")
        assert view is not None and len(view["variants"]) == 3
        # (the values in the order the winner wrote them)
        assert [(n, sorted(vals)) for n, vals in view["options"]] == [("Option 1", ["0", "1", "2"])]
        assert view["variants"][f"{p}-{3 * k + 1}"]["stock"] == {"wh-newark": 3 * k + 1}
    assert await verify(hub.db) == []
