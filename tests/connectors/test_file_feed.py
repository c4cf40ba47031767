"""The file feed connector end to end over GraphQL, on both databases: an instance made
with ``connectorCreate`` reads CSV and JSON files from a folder the test writes, or a
URL served by a stand-in ERP export (with ETags); ``connectorRunNow`` runs it;
``connectorRuns`` shows what it read and wrote and the rows it rejected (file, row
number, code, why); the products, prices and stock are read back through the API.
Re-runs are incremental: an unchanged file is skipped, a changed one writes only the
rows that changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.domain.inventory import verify
from tests.helpers.client import Hub
from tests.helpers.connectors import (
    CREATE,
    connector,
    create_connector,
    delete_connector,
    run_now,
    runs,
)
from tests.helpers.feed import (
    FeedServer,
    movements,
    product_view,
    search,
    serving_feed,
    unique,
    write_file,
)

AUDIT = """query($f: AuditEventFilter) { auditEvents(filter: $f, first: 20) {
  nodes { operation actor { kind ref } changes { table op } } } }"""

HEADER = (
    "sku,product_handle,product_title,active,barcode,option:Size,price:web,price:eu,"
    "stock:wh-newark,stock:wh-rotterdam"
)


def _gtin13(p: str, lead: str) -> str:
    """A valid EAN-13 of this test's own (barcodes are unique per installation)."""
    body = f"{lead}{int(p.rsplit('-', 1)[-1], 16) % 10**10:010d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _bad_check_digit(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def _csv(p: str, q: str, *, m_price: str = "19.99", xl_barcode: str | None = None) -> str:
    xl_barcode = xl_barcode or _bad_check_digit(_gtin13(p, "28"))
    rows = [
        HEADER,
        f"{p}-S,{p},Feed shirt,true,{_gtin13(p, '27')},S,19.99,18.50,10,4",  # line 2
        f"{p}-M,{p},,,,M,{m_price},18.50,6,",  # 3
        f"{p}-L,{p},,,,L,21.00,,0,",  # 4
        f"{p}-XL,{p},,,{xl_barcode},XL,21.00,,,",  # 5: bad check digit at first
        f"{p}-S,{p},,,,S,1,,,",  # 6: the same SKU again
        f"{q}-1,{q},Feed socks,true,,,abc,,,",  # 7: not a price
        f"{q}-2,{q},Feed socks,true,,,3.50,,2,",  # 8
        f"{q}-3,{q},,,,,3.50,,,",  # 9: a second variant with no options
    ]
    return "\n".join(rows) + "\n"


def _errors(run: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((e["item"], e["code"]) for e in run["errors"])


def _counts(run: dict[str, Any]) -> tuple[str, int, int, int]:
    return run["status"], run["itemsRead"], run["itemsWritten"], run["errorCount"]


async def test_folder_feed_imports_incrementally_and_reports_rejected_rows(
    hub: Hub, tmp_path: Path
) -> None:
    p, q, r = unique("shirt"), unique("socks"), unique("hat")
    folder = tmp_path / f"feed-{hub.name}"
    folder.mkdir()
    write_file(folder / "items.csv", _csv(p, q))
    hats = f"""[
      {{"sku": "{r}-1", "product_handle": "{r}", "product_title": "Feed hat",
        "prices": {{"web": "9"}}, "stock": {{"wh-nowhere": 1}}}},
      {{"sku": "{r}-2", "product_handle": "{r}", "product_title": "Feed hat",
        "active": true, "options": {{"Colour": "Red"}}, "prices": {{"web": 9.5}}}}
    ]"""
    write_file(folder / "second.json", hats)
    write_file(folder / ".hidden.csv", "not,a,feed\n")
    write_file(folder / "upload.csv.part", "sku\n")
    made = await create_connector(
        hub, unique("erp-folder"), "file_feed", {"folder": str(folder)}, scheduleSeconds=None
    )
    try:
        first = await run_now(hub, made["id"], wait=True)
        assert _counts(first) == ("PARTIAL", 10, 5, 5), first
        assert _errors(first) == sorted(
            [
                (f"items.csv row 5 ({p}-XL)", "INVALID_BARCODE"),
                (f"items.csv row 6 ({p}-S)", "DUPLICATE_SKU"),
                (f"items.csv row 7 ({q}-1)", "INVALID_PRICE"),
                (f"items.csv row 9 ({q}-3)", "DUPLICATE_OPTIONS"),
                (f"second.json row 1 ({r}-1)", "UNKNOWN_LOCATION"),
            ]
        )
        messages = {e["code"]: e["message"] for e in first["errors"]}
        assert "check digit" in messages["INVALID_BARCODE"]
        assert "row 2" in messages["DUPLICATE_SKU"]

        shirt = await product_view(hub, p)
        assert shirt is not None
        assert (shirt["title"], shirt["status"]) == ("Feed shirt", "ACTIVE")
        assert shirt["options"] == [("Size", ["S", "M", "L"])]
        assert shirt["range"] == ("19.99", "21.00")
        v = shirt["variants"]
        assert sorted(v) == sorted([f"{p}-S", f"{p}-M", f"{p}-L"])
        assert v[f"{p}-S"]["barcode"] == _gtin13(p, "27")
        assert v[f"{p}-S"]["stock"] == {"wh-newark": 10, "wh-rotterdam": 4}
        assert v[f"{p}-M"]["stock"] == {"wh-newark": 6}
        eu = await product_view(hub, p, "eu")
        assert eu is not None and eu["variants"][f"{p}-S"]["price"] == "18.50"
        assert eu["variants"][f"{p}-L"]["price"] is None  # not priced in eu
        socks = await product_view(hub, q)
        assert socks is not None and list(socks["variants"]) == [f"{q}-2"]
        assert socks["variants"][f"{q}-2"]["stock"] == {"wh-newark": 2}
        hat = await product_view(hub, r)
        assert hat is not None and hat["options"] == [("Colour", ["Red"])]
        assert hat["variants"][f"{r}-2"]["price"] == "9.50"
        assert p in await search(hub, f"sku:{p}-M")
        ledger = await movements(hub, v[f"{p}-S"]["id"])
        assert len(ledger) == 2 and {m[0] for m in ledger} == {"erp_sync"}

        # Nothing changed: both files are skipped, nothing read or written.
        second = await run_now(hub, made["id"], wait=True)
        assert _counts(second) == ("SUCCEEDED", 0, 0, 0), second
        assert await movements(hub, v[f"{p}-S"]["id"]) == ledger

        # One price changed: the file is read again, one row written; the rows still
        # broken are reported again, the JSON file (unchanged) is skipped.
        write_file(folder / "items.csv", _csv(p, q, m_price="17.99"))
        third = await run_now(hub, made["id"], wait=True)
        assert _counts(third) == ("PARTIAL", 8, 1, 4), third
        shirt = await product_view(hub, p)
        assert shirt is not None and shirt["variants"][f"{p}-M"]["price"] == "17.99"
        assert shirt["range"] == ("17.99", "21.00")
        assert await movements(hub, v[f"{p}-S"]["id"]) == ledger

        # A rejected row once fixed is imported (its hash was never recorded).
        fixed = _gtin13(p, "28")
        write_file(folder / "items.csv", _csv(p, q, m_price="17.99", xl_barcode=fixed))
        fourth = await run_now(hub, made["id"], wait=True)
        assert _counts(fourth) == ("PARTIAL", 8, 1, 3), fourth
        shirt = await product_view(hub, p)
        assert shirt is not None and shirt["options"] == [("Size", ["S", "M", "L", "XL"])]
        state = (await connector(hub, made["id"]))["cursor"]
        assert "items.csv" in state and "second.json" in state
        assert await verify(hub.db) == []
        # Every run is listed, newest first, with what it read, wrote and rejected.
        listed = await runs(hub, made["id"])
        assert [_counts(r) for r in listed] == [
            _counts(fourth),
            _counts(third),
            _counts(second),
            _counts(first),
        ]
        assert all(r["trigger"] == "MANUAL" for r in listed)
        pk = int(made["id"].rsplit("/", 1)[1])
        kept = "SELECT count(*) FROM feed_row_hashes WHERE instance_id = :i"
        assert await hub.scalar(kept, i=pk) == 6  # the SKUs imported
    finally:
        await delete_connector(hub, made["id"])
    # The instance's row hashes went with it.
    pk = int(made["id"].rsplit("/", 1)[1])
    assert (
        await hub.scalar("SELECT count(*) FROM feed_row_hashes WHERE instance_id = :i", i=pk) == 0
    )


async def test_url_feed_uses_etags_and_fails_when_the_export_is_down(hub: Hub) -> None:
    p = unique("lamp")

    def body(price: str) -> str:
        return f"""[
          {{"sku": "{p}-1", "product_handle": "{p}", "product_title": "Lamp",
            "active": true, "price:web": "{price}", "stock:wh-newark": 3}},
          {{"sku": "{p}-2", "product_handle": "{p}", "option:Shade": "Blue",
            "price:web": "30", "stock:wh-newark": 1}}
        ]"""

    def fixed(price: str) -> str:  # both variants name the Shade option
        return body(price).replace('"active": true,', '"active": true, "option:Shade": "White",')

    server = FeedServer()
    server.set(fixed("25.00"))
    with serving_feed(server) as base:
        made = await create_connector(
            hub,
            unique("erp-url"),
            "file_feed",
            {"url": f"{base}/export.json", "authorization": "Bearer s3cret"},
            scheduleSeconds=None,
        )
        try:
            assert "authorization" not in made["config"]  # write-only
            assert {"name": "authorization", "isSet": True} in made["secrets"]
            first = await run_now(hub, made["id"], wait=True)
            assert _counts(first) == ("SUCCEEDED", 2, 2, 0), first
            assert server.requests[-1] == {"if_none_match": None, "authorization": "Bearer s3cret"}
            lamp = await product_view(hub, p)
            assert lamp is not None and lamp["range"] == ("25.00", "30.00")
            assert lamp["variants"][f"{p}-1"]["stock"] == {"wh-newark": 3}

            # Unchanged: the server answers 304 to the ETag, nothing is read.
            second = await run_now(hub, made["id"], wait=True)
            assert _counts(second) == ("SUCCEEDED", 0, 0, 0), second
            assert server.requests[-1]["if_none_match"] == server.etag

            server.set(fixed("24.00"))
            third = await run_now(hub, made["id"], wait=True)
            assert _counts(third) == ("SUCCEEDED", 2, 1, 0), third
            lamp = await product_view(hub, p)
            assert lamp is not None and lamp["variants"][f"{p}-1"]["price"] == "24.00"

            # The export fails: the run fails (and would be retried), the cursor stays.
            cursor = (await connector(hub, made["id"]))["cursor"]
            server.status = 503
            failed = await run_now(hub, made["id"], wait=True)
            assert failed["status"] == "FAILED" and "503" in failed["message"], failed
            after = await connector(hub, made["id"])
            assert after["cursor"] == cursor and after["failures"] == 1
            server.status = 200
            back = await run_now(hub, made["id"], wait=True)
            assert _counts(back) == ("SUCCEEDED", 0, 0, 0), back

            # A server without ETag or Last-Modified: the same body is not read twice.
            server.validators = False
            server.set(fixed("23.00"))
            plain = await run_now(hub, made["id"], wait=True)
            assert _counts(plain) == ("SUCCEEDED", 2, 1, 0), plain
            assert server.requests[-1]["if_none_match"] is not None  # the last ETag
            same = await run_now(hub, made["id"], wait=True)
            assert _counts(same) == ("SUCCEEDED", 0, 0, 0), same
            assert server.requests[-1]["if_none_match"] is None
        finally:
            await delete_connector(hub, made["id"])


async def test_config_is_checked_and_a_broken_file_is_reported(hub: Hub, tmp_path: Path) -> None:
    for config, where in (
        ({"folder": str(tmp_path), "url": "http://127.0.0.1:9/x.csv"}, []),
        ({}, []),
        ({"folder": "relative/path"}, ["folder"]),
        ({"url": "ftp://example.com/x.csv"}, ["url"]),
        ({"folder": str(tmp_path), "format": "xml"}, ["format"]),
    ):
        got = await hub.admin(
            CREATE, {"input": {"name": unique("bad"), "typeName": "file_feed", "config": config}}
        )
        payload = got["data"]["connectorCreate"]
        assert payload["connector"] is None, payload
        codes = [(e["code"], e["field"][:2]) for e in payload["userErrors"]]
        assert codes and all(c == "INVALID_CONNECTOR_CONFIG" for c, _ in codes), codes
        if where:
            assert ["config", *where] in [f for _, f in codes], codes

    folder = tmp_path / f"broken-{hub.name}"
    folder.mkdir()
    write_file(folder / "broken.csv", "sku,title\nA,b\n")
    write_file(
        folder / "latin1.csv", "sku,product_handle,product_title\nX,x,Caf\xe9\n".encode("latin-1")
    )
    write_file(folder / "huge.json", "[" + ",".join(["{}"] * 300) + "]")
    made = await create_connector(
        hub,
        unique("erp-broken"),
        "file_feed",
        {"folder": str(folder), "max_bytes": 500},
        scheduleSeconds=None,
    )
    try:
        run = await run_now(hub, made["id"], wait=True)
        assert _counts(run) == ("PARTIAL", 0, 0, 3), run
        assert _errors(run) == [
            ("broken.csv", "MISSING_COLUMN"),
            ("huge.json", "FILE_TOO_LARGE"),
            ("latin1.csv", "INVALID_ENCODING"),
        ]
        folder.rename(tmp_path / f"gone-{hub.name}")
        gone = await run_now(hub, made["id"], wait=True)
        assert gone["status"] == "FAILED" and "can't list" in gone["message"], gone
    finally:
        await delete_connector(hub, made["id"])


async def test_a_stock_file_moves_levels_through_the_ledger(hub: Hub, tmp_path: Path) -> None:
    p = unique("jar")
    folder = tmp_path / f"stock-{hub.name}"
    folder.mkdir()
    write_file(
        folder / "a-items.csv",
        f"sku,product_handle,product_title,option:Size\n{p}-1,{p},Jar,S\n{p}-2,{p},,L\n",
    )
    write_file(
        folder / "b-stock.csv",
        f"sku,stock:wh-newark,stock:store-soho\n{p}-1,8,2\n{p}-2,3,\nnot-a-sku,1,\n",
    )
    made = await create_connector(
        hub, unique("erp-stock"), "file_feed", {"folder": str(folder)}, scheduleSeconds=None
    )
    try:
        # 2 catalog rows written, 3 levels set, the unknown SKU reported with its row.
        first = await run_now(hub, made["id"], wait=True)
        assert _counts(first) == ("PARTIAL", 5, 5, 1), first
        assert _errors(first) == [("b-stock.csv row 4 (not-a-sku@wh-newark)", "UNKNOWN_SKU")]
        jar = await product_view(hub, p)
        assert jar is not None
        assert jar["variants"][f"{p}-1"]["stock"] == {"wh-newark": 8, "store-soho": 2}
        assert jar["variants"][f"{p}-2"]["stock"] == {"wh-newark": 3}
        assert await movements(hub, jar["variants"][f"{p}-2"]["id"]) == [
            ("erp_sync", 3, "connector", "wh-newark")
        ]
        write_file(
            folder / "b-stock.csv",
            f"sku,stock:wh-newark,stock:store-soho\n{p}-1,8,2\n{p}-2,1,\nnot-a-sku,1,\n",
        )
        second = await run_now(hub, made["id"], wait=True)
        assert _counts(second) == ("PARTIAL", 3, 1, 1), second
        jar = await product_view(hub, p)
        assert jar is not None and jar["variants"][f"{p}-2"]["stock"] == {"wh-newark": 1}
        assert await verify(hub.db) == []
        # What the connector wrote is in the audit log as the connector's.
        pk = made["id"].rsplit("/", 1)[1]
        audited = await hub.admin(
            AUDIT, {"f": {"actor": f"connector:{pk}", "objectType": "inventory_levels"}}
        )
        nodes = audited["data"]["auditEvents"]["nodes"]
        assert nodes and {n["operation"] for n in nodes} == {"connector.file_feed.manual"}
        assert {n["actor"]["kind"] for n in nodes} == {"connector"}
        assert any(c["table"] == "inventory_levels" for n in nodes for c in n["changes"])
    finally:
        await delete_connector(hub, made["id"])
