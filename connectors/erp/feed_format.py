"""The file feed format (``docs/file-feed.md``): CSV or JSON rows to
:class:`~connectors.base.CatalogRow`, each with its row number and a content hash.
Pure: no I/O, no hub.

One row is one variant. Columns (CSV header names; JSON object keys):

``sku`` (required), ``product_handle`` (required), ``product_title``,
``description``, ``active`` (true/false, yes/no, 1/0), ``barcode`` (a GTIN: EAN-8,
UPC-A, EAN-13 or GTIN-14 with its check digit), ``tax_class``, ``weight_grams``
(a whole number), ``option:<Name>`` (the variant's value of option *Name*),
``price:<channel>`` (a decimal amount in the channel's currency, ``12.50``),
``stock:<location>`` (on hand, a whole number), ``attr:<key>`` (a product
attribute). JSON objects may also nest ``options``, ``prices``, ``stock`` and
``attributes`` as objects. An empty cell (or a JSON ``null``) leaves the field as the
hub has it. Other columns are reported once (``UNKNOWN_COLUMN``) and ignored.

A row that breaks the format is rejected with its row number (the CSV line, the JSON
item's position from 1), a code and a message; the others are parsed.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from stdnum import ean

from connectors.base import CatalogRow

REQUIRED = ("sku", "product_handle")
TEXT_FIELDS = ("product_title", "description", "tax_class")
PLAIN = frozenset(
    (
        *REQUIRED,
        *TEXT_FIELDS,
        "active",
        "barcode",
        "weight_grams",
        "options",
        "prices",
        "stock",
        "attributes",
    )
)
PREFIXES = ("option:", "price:", "stock:", "attr:")
TRUE = frozenset(("true", "yes", "1", "y", "t"))
FALSE = frozenset(("false", "no", "0", "n", "f"))
MAX_INT = 2**31 - 1
GTIN_LENGTHS = frozenset((8, 12, 13, 14))  # EAN-8, UPC-A, EAN-13, GTIN-14


@dataclass(frozen=True, slots=True)
class FeedRow:
    """A parsed row: its row number, the row and its content hash."""

    number: int
    row: CatalogRow
    hash: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row (or, with ``number`` 0, a column or the file) the parser refused."""

    number: int
    sku: str | None
    code: str
    message: str


@dataclass
class Parsed:
    rows: list[FeedRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Rows read (parsed or rejected; file-level notes aside)."""
        return len(self.rows) + sum(1 for r in self.rejections if r.number)


class BadRow(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BadFile(Exception):
    """The whole file can't be read (not CSV/JSON, no header, missing columns)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- values


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise BadRow("INVALID_VALUE", "expected text, got a nested value")
    text = str(value).strip()
    return text or None


def _bool(value: Any, name: str) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text is None:
        return None
    low = text.lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise BadRow("INVALID_BOOLEAN", f"{name} must be true or false, got {text!r}")


def _whole(value: Any, name: str) -> int | None:
    if isinstance(value, bool):
        raise BadRow("INVALID_NUMBER", f"{name} must be a whole number, got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            n = int(text)
        except ValueError:
            raise BadRow("INVALID_NUMBER", f"{name} must be a whole number, got {text!r}") from None
    if not 0 <= n <= MAX_INT:
        raise BadRow("INVALID_NUMBER", f"{name} must be 0 to {MAX_INT}, got {n}")
    return n


def _price(value: Any, channel: str, currencies: Mapping[str, int]) -> int | None:
    """A decimal amount in the channel's currency, in minor units."""
    if isinstance(value, bool):
        raise BadRow("INVALID_PRICE", f"price:{channel} must be a decimal amount")
    text = _text(value)
    if text is None:
        return None
    if channel not in currencies:
        known = ", ".join(sorted(currencies)) or "none"
        raise BadRow("UNKNOWN_CHANNEL", f"no channel {channel!r} (known: {known})")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRow(
            "INVALID_PRICE", f"price:{channel} must be a decimal amount such as 12.50, got {text!r}"
        ) from None
    exp = currencies[channel]
    scaled = amount.scaleb(exp) if amount.is_finite() else amount
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise BadRow("INVALID_PRICE", f"price:{channel} has more than {exp} decimals, got {text!r}")
    if scaled < 0 or scaled > MAX_INT:
        raise BadRow("INVALID_PRICE", f"price:{channel} must be 0 or more, got {text!r}")
    return int(scaled)


def _barcode(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    # The shape first (cheap), then the check digit by the library.
    if not (
        text.isascii()
        and text.isdigit()
        and len(text) in GTIN_LENGTHS
        and ean.calc_check_digit(text[:-1]) == text[-1]
    ):
        raise BadRow(
            "INVALID_BARCODE",
            f"barcode {text!r} is not a GTIN (8, 12, 13 or 14 digits with a valid check digit)",
        )
    return text


# --------------------------------------------------------------------------- rows


def _split(obj: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``obj``'s prefixed keys (``price:web``) and nested objects (``prices``) by kind."""
    parts: dict[str, dict[str, Any]] = {"option:": {}, "price:": {}, "stock:": {}, "attr:": {}}
    for nested, prefix in (
        ("options", "option:"),
        ("prices", "price:"),
        ("stock", "stock:"),
        ("attributes", "attr:"),
    ):
        value = obj.get(nested)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise BadRow("INVALID_VALUE", f"{nested} must be an object")
        parts[prefix].update({str(k): v for k, v in value.items()})
    for key, value in obj.items():
        colon = key.find(":")
        if 0 < colon < len(key) - 1:
            part = parts.get(key[: colon + 1])
            if part is not None:
                part[key[colon + 1 :]] = value
    return parts


def build_row(obj: Mapping[str, Any], currencies: Mapping[str, int]) -> CatalogRow:
    """One feed row as a :class:`CatalogRow` (raises :class:`BadRow`)."""
    if "__bad__" in obj:
        raise BadRow("INVALID_ROW", obj["__bad__"])
    sku = _text(obj.get("sku"))
    handle = _text(obj.get("product_handle"))
    if sku is None:
        raise BadRow("MISSING_SKU", "sku is required")
    if handle is None:
        raise BadRow("MISSING_HANDLE", "product_handle is required")
    parts = _split(obj)
    options = [(name, _text(v)) for name, v in parts["option:"].items()]
    given = [(name, v) for name, v in options if v is not None]
    prices = {}
    for channel, value in parts["price:"].items():
        amount = _price(value, channel, currencies)
        if amount is not None:
            prices[channel] = amount
    stock = {}
    for location, value in parts["stock:"].items():
        qty = _whole(value, f"stock:{location}")
        if qty is not None:
            stock[location] = qty
    attributes = {k: v for k, v in parts["attr:"].items() if v is not None and v != ""}
    return CatalogRow(
        sku=sku,
        product_handle=handle,
        product_title=_text(obj.get("product_title")),
        description=_text(obj.get("description")),
        active=_bool(obj.get("active"), "active"),
        barcode=_barcode(obj.get("barcode")),
        option_values=[v for _, v in given] if given else None,
        option_names=[n for n, _ in given] if given else None,
        tax_class=_text(obj.get("tax_class")),
        weight_grams=_whole(obj.get("weight_grams"), "weight_grams"),
        prices=prices or None,
        stock=stock or None,
        attributes=attributes or None,
    )


def row_hash(row: CatalogRow) -> str:
    """A hash of everything the row says (equal rows, equal hashes)."""
    doc = [
        row.sku,
        row.product_handle,
        row.product_title,
        row.description,
        row.active,
        row.barcode,
        list(row.option_values) if row.option_values is not None else None,
        list(row.option_names) if row.option_names is not None else None,
        row.tax_class,
        row.weight_grams,
        sorted((row.prices or {}).items()),
        sorted((row.stock or {}).items()),
        sorted((k, str(v)) for k, v in (row.attributes or {}).items()),
    ]
    return hashlib.blake2b(orjson.dumps(doc), digest_size=16).hexdigest()


def _collect(
    items: Iterable[tuple[int, Mapping[str, Any]]], currencies: Mapping[str, int]
) -> Parsed:
    out = Parsed()
    first: dict[str, int] = {}
    for number, obj in items:
        try:
            row = build_row(obj, currencies)
        except BadRow as bad:
            out.rejections.append(Rejection(number, _safe_sku(obj), bad.code, bad.message))
            continue
        if row.sku in first:
            out.rejections.append(
                Rejection(
                    number,
                    row.sku,
                    "DUPLICATE_SKU",
                    f"sku {row.sku!r} is in row {first[row.sku]} too",
                )
            )
            continue
        first[row.sku] = number
        out.rows.append(FeedRow(number, row, row_hash(row)))
    return out


def _check_columns(columns: Iterable[str], out: Parsed) -> None:
    cols = list(columns)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise BadFile("MISSING_COLUMN", f"the file has no {', '.join(missing)} column")
    for c in cols:
        if c not in PLAIN and not any(c.startswith(p) and len(c) > len(p) for p in PREFIXES):
            out.rejections.append(
                Rejection(
                    0, None, "UNKNOWN_COLUMN", f"column {c!r} is not part of the format; ignored"
                )
            )


def parse_csv(data: bytes | str, currencies: Mapping[str, int], delimiter: str = ",") -> Parsed:
    """Rows of a CSV file (UTF-8, a header row first); row numbers are line numbers."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise BadFile("EMPTY_FILE", "the file is empty") from None
    except csv.Error as exc:
        raise BadFile("INVALID_CSV", f"the header can't be read: {exc}") from None
    head = Parsed()
    _check_columns(header, head)
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise BadFile("DUPLICATE_COLUMN", f"columns given twice: {', '.join(twice)}")

    def items() -> Iterator[tuple[int, Mapping[str, Any]]]:
        start = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BadFile("INVALID_CSV", f"line {reader.line_num}: {exc}") from None
            number, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue  # a blank line
            if len(values) != len(header):
                yield number, {"__bad__": f"{len(values)} cells, the header has {len(header)}"}
                continue
            yield number, dict(zip(header, values, strict=True))

    parsed = _collect(items(), currencies)
    parsed.rejections[:0] = head.rejections
    return parsed


def parse_json(data: bytes | str, currencies: Mapping[str, int]) -> Parsed:
    """Rows of a JSON file: a list of objects (or ``{"rows": [...]}``); row numbers
    count the items from 1."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadFile("INVALID_JSON", f"the file is not JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
        doc = doc["rows"]
    if not isinstance(doc, list):
        raise BadFile("INVALID_JSON", "the file must hold a list of row objects")
    out = Parsed()
    good: list[tuple[int, Mapping[str, Any]]] = []
    for number, obj in enumerate(doc, 1):
        if not isinstance(obj, dict):
            out.rejections.append(Rejection(number, None, "INVALID_ROW", "a row must be an object"))
            continue
        unknown = [k for k in obj if k not in PLAIN and not any(k.startswith(p) for p in PREFIXES)]
        if unknown:
            out.rejections.append(
                Rejection(
                    number,
                    _safe_sku(obj),
                    "UNKNOWN_COLUMN",
                    f"unknown keys {sorted(unknown)}; ignored",
                )
            )
        good.append((number, obj))
    parsed = _collect(good, currencies)
    parsed.rejections[:0] = out.rejections
    parsed.rejections.sort(key=lambda r: r.number)
    return parsed


def _safe_sku(obj: Mapping[str, Any]) -> str | None:
    try:
        return _text(obj.get("sku"))
    except BadRow:
        return None


def parse_feed(
    name: str,
    data: bytes,
    currencies: Mapping[str, int],
    *,
    fmt: str = "auto",
    delimiter: str = ",",
    content_type: str | None = None,
) -> Parsed:
    """``data`` (the file ``name``) as CSV or JSON: ``fmt`` ``csv``/``json``, or
    ``auto`` (by the name's extension, else the content type, else a leading ``[`` or
    ``{``)."""
    kind = fmt
    if kind == "auto":
        low = name.lower()
        ctype = (content_type or "").lower()
        if low.endswith(".json") or "json" in ctype:
            kind = "json"
        elif low.endswith((".csv", ".txt")) or "csv" in ctype:
            kind = "csv"
        else:
            kind = "json" if data.lstrip()[:1] in (b"[", b"{") else "csv"
    if kind == "json":
        return parse_json(data, currencies)
    try:
        return parse_csv(data, currencies, delimiter)
    except UnicodeDecodeError as exc:
        raise BadFile("INVALID_ENCODING", f"the file is not UTF-8: {exc.reason}") from None
