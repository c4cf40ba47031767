"""The file feed format (docs/file-feed.md): CSV and JSON rows to CatalogRow, rejected
rows with their row numbers, and the content hash that makes re-imports incremental.
Pure functions: no hub, no database."""

from __future__ import annotations

import pytest

from connectors.base import CatalogRow
from connectors.erp.feed_format import BadFile, parse_csv, parse_feed, parse_json, row_hash

CURRENCIES = {"web": 2, "eu": 2, "jp": 0}

CSV = """sku,product_handle,product_title,description,active,barcode,option:Size,option:Color,\
tax_class,weight_grams,price:web,price:eu,stock:wh-newark,attr:material
TS-S-RED,tee,Tee,"Soft, cotton",true,4006381333931,S,Red,standard,180,12.50,11,5,cotton
TS-M-RED,tee,,,,,M,Red,,,12.5,,7,
MUG,mug,Mug,,no,,,,reduced,350,8,,0,
"""


def codes(parsed) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(r.number, r.code) for r in parsed.rejections]


def test_csv_rows_become_catalog_rows() -> None:
    parsed = parse_csv(CSV, CURRENCIES)
    assert parsed.rejections == []
    assert [r.number for r in parsed.rows] == [2, 3, 4]
    first, second, mug = (r.row for r in parsed.rows)
    assert first == CatalogRow(
        sku="TS-S-RED",
        product_handle="tee",
        product_title="Tee",
        description="Soft, cotton",
        active=True,
        barcode="4006381333931",
        option_values=["S", "Red"],
        option_names=["Size", "Color"],
        tax_class="standard",
        weight_grams=180,
        prices={"web": 1250, "eu": 1100},
        stock={"wh-newark": 5},
        attributes={"material": "cotton"},
    )
    # Empty cells leave the hub's value alone (None), not blank it.
    assert second.product_title is None and second.active is None and second.barcode is None
    assert second.prices == {"web": 1250} and second.stock == {"wh-newark": 7}
    assert second.attributes is None
    assert mug.active is False and mug.option_values is None and mug.option_names is None
    assert mug.stock == {"wh-newark": 0}  # zero is a value, not an empty cell


def test_rejected_rows_say_which_line_and_why_and_the_rest_parse() -> None:
    rows = [
        "sku,product_handle,price:web,price:jp,price:mars,stock:wh-newark,barcode,active,weight_grams",
        "OK-1,ok,1.00,100,,1,,,",  # line 2: fine
        ",ok,1,,,,,,",  # 3: no sku
        "OK-2,,1,,,,,,",  # 4: no handle
        "OK-3,ok,1.001,,,,,,",  # 5: three decimals in USD
        "OK-4,ok,,1.5,,,,,",  # 6: JPY has no decimals
        "OK-5,ok,-1,,,,,,",  # 7: negative
        "OK-6,ok,abc,,,,,,",  # 8: not a number
        "OK-7,ok,,,3,,,,",  # 9: unknown channel
        "OK-8,ok,,,,-2,,,",  # 10: negative stock
        "OK-9,ok,,,,,4006381333932,,",  # 11: bad check digit
        "OK-10,ok,,,,,,maybe,",  # 12: not a boolean
        "OK-11,ok,,,,,,,1.5",  # 13: not a whole number
        "OK-1,ok,2,,,,,,",  # 14: duplicate sku
        "OK-12,ok,1",  # 15: too few cells
        "",  # blank line: skipped
        "OK-13,ok,99999999999,,,,,,",  # 17: too large
    ]
    parsed = parse_csv("\n".join(rows) + "\n", CURRENCIES)
    assert [r.row.sku for r in parsed.rows] == ["OK-1"]
    assert parsed.rows[0].row.prices == {"web": 100, "jp": 100}
    assert codes(parsed) == [
        (3, "MISSING_SKU"),
        (4, "MISSING_HANDLE"),
        (5, "INVALID_PRICE"),
        (6, "INVALID_PRICE"),
        (7, "INVALID_PRICE"),
        (8, "INVALID_PRICE"),
        (9, "UNKNOWN_CHANNEL"),
        (10, "INVALID_NUMBER"),
        (11, "INVALID_BARCODE"),
        (12, "INVALID_BOOLEAN"),
        (13, "INVALID_NUMBER"),
        (14, "DUPLICATE_SKU"),
        (15, "INVALID_ROW"),
        (17, "INVALID_PRICE"),
    ]
    by_line = {r.number: r for r in parsed.rejections}
    assert by_line[14].message == "sku 'OK-1' is in row 2 too"
    assert "mars" in by_line[9].message and "web" in by_line[9].message
    assert by_line[5].sku == "OK-3"
    assert parsed.count == 15


def test_quoted_newlines_keep_line_numbers_true() -> None:
    data = 'sku,product_handle,description,price:web\nA,a,"two\nlines",1\nB,b,,x\n'
    parsed = parse_csv(data, CURRENCIES)
    assert parsed.rows[0].row.description == "two\nlines"
    assert codes(parsed) == [(4, "INVALID_PRICE")]  # B starts on line 4


def test_file_level_problems() -> None:
    with pytest.raises(BadFile) as err:
        parse_csv("sku,title\nA,x\n", CURRENCIES)
    assert err.value.code == "MISSING_COLUMN" and "product_handle" in err.value.message
    with pytest.raises(BadFile) as err:
        parse_csv("", CURRENCIES)
    assert err.value.code == "EMPTY_FILE"
    with pytest.raises(BadFile) as err:
        parse_csv("sku,product_handle,sku\n", CURRENCIES)
    assert err.value.code == "DUPLICATE_COLUMN"
    with pytest.raises(BadFile) as err:
        parse_json(b'{"not": "rows"}', CURRENCIES)
    assert err.value.code == "INVALID_JSON"
    with pytest.raises(BadFile) as err:
        parse_json(b"[1,", CURRENCIES)
    assert err.value.code == "INVALID_JSON"
    with pytest.raises(BadFile) as err:
        parse_feed("x.csv", "sku,product_handle\n\xe9,a\n".encode("latin-1"), CURRENCIES)
    assert err.value.code == "INVALID_ENCODING"
    # An unknown column is reported once and ignored; the rows still import.
    parsed = parse_csv("sku,product_handle,colour\nA,a,red\n", CURRENCIES)
    assert codes(parsed) == [(0, "UNKNOWN_COLUMN")] and len(parsed.rows) == 1


def test_json_rows_flat_and_nested_keys() -> None:
    data = b"""[
      {"sku": "J-1", "product_handle": "jar", "product_title": "Jar", "active": true,
       "prices": {"web": "4.20", "jp": 500}, "stock": {"wh-newark": 3},
       "options": {"Size": "1l"}, "attributes": {"glass": true}, "weight_grams": 400},
      {"sku": "J-2", "product_handle": "jar", "price:web": 4.5, "option:Size": "2l"},
      {"sku": "J-3", "product_handle": "jar", "prices": {"web": "free"}},
      "not an object",
      {"sku": "J-4", "product_handle": "jar", "extra": 1}
    ]"""
    parsed = parse_json(data, CURRENCIES)
    rows = {r.row.sku: r.row for r in parsed.rows}
    assert rows["J-1"].prices == {"web": 420, "jp": 500}
    assert rows["J-1"].option_names == ["Size"] and rows["J-1"].option_values == ["1l"]
    assert rows["J-1"].attributes == {"glass": True} and rows["J-1"].weight_grams == 400
    assert rows["J-2"].prices == {"web": 450} and rows["J-2"].option_values == ["2l"]
    assert "J-4" in rows  # unknown keys are reported, the row imports
    assert codes(parsed) == [(3, "INVALID_PRICE"), (4, "INVALID_ROW"), (5, "UNKNOWN_COLUMN")]
    # {"rows": [...]} is accepted too, and auto-detection looks at the name and content.
    wrapped = parse_feed("feed", b'{"rows": [{"sku": "W", "product_handle": "w"}]}', CURRENCIES)
    assert [r.row.sku for r in wrapped.rows] == ["W"]
    as_csv = parse_feed("data.txt", b"sku,product_handle\nC,c\n", CURRENCIES)
    assert [r.row.sku for r in as_csv.rows] == ["C"]


def test_the_hash_changes_with_content_only() -> None:
    a = parse_csv(CSV, CURRENCIES).rows
    # The same content in another layout (JSON, other column order) hashes the same.
    data = b"""[{"product_handle": "mug", "sku": "MUG", "product_title": "Mug",
        "active": "no", "tax_class": "reduced", "weight_grams": "350",
        "prices": {"web": "8.00"}, "stock": {"wh-newark": 0}}]"""
    b = parse_json(data, CURRENCIES).rows
    assert a[2].hash == b[0].hash
    changed = parse_csv(CSV.replace("8,,0,", "8.01,,0,"), CURRENCIES).rows
    assert [x.hash == y.hash for x, y in zip(a, changed, strict=True)] == [True, True, False]
    assert row_hash(a[0].row) == a[0].hash and len(a[0].hash) == 32
