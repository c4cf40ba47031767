"""The audit log on SQLite and PostgreSQL, over GraphQL: an admin's product update is
recorded with who, what, when, from where and only the changed columns; a mutation
answered with userErrors and a write rolled back record nothing; secrets are
redacted; the storefront's checkout records nothing and costs no statement more;
``auditEvents`` filters and pages; the database refuses to update or delete the log,
and the retention job deletes only what is past retention."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, delete, insert, text, update
from sqlalchemy.exc import DBAPIError

from hub import ids
from hub.auth import create_api_key, token_digest
from hub.demo import NEWARK
from hub.domain import audit
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub
from tests.helpers.giftcards import issue
from tests.helpers.inventory import make_variant, op

EVENTS = """query($f: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $f, first: $first, after: $after) {
    nodes { id occurredAt operation requestId clientAddress
            actor { kind ref name role } objects { type id }
            changes { table pk op before after rows } }
    pageInfo { hasNextPage endCursor } } }"""

CREATE = """mutation($i: ProductInput!) { productCreate(input: $i) {
  product { id title } userErrors { field code } } }"""
UPDATE = """mutation($id: ID!, $i: ProductInput!) { productUpdate(id: $id, input: $i) {
  product { id title } userErrors { field code } } }"""


async def _events(hub: Hub, f: dict[str, Any], **kw: Any) -> dict[str, Any]:
    res = await hub.admin(EVENTS, {"f": f, **kw})
    assert "errors" not in res, res
    return res["data"]["auditEvents"]


async def _product(hub: Hub, **extra: Any) -> tuple[str, int]:
    h = f"audit-{uuid.uuid4().hex[:10]}"
    res = await hub.admin(CREATE, {"i": {"handle": h, "title": f"Audit {h}", **extra}})
    out = res["data"]["productCreate"]
    assert out["userErrors"] == [], out
    gid = out["product"]["id"]
    return gid, ids.decode(gid)[1]


def table_of(hub: Hub, name: str) -> Table:
    from hub.db.models import metadata

    return metadata.tables[name]


async def _admin_key_pk(hub: Hub) -> int:
    return int(await hub.scalar("SELECT id FROM api_keys WHERE name = 'tests-admin'"))


async def test_product_update_records_the_changed_columns_only(hub: Hub) -> None:
    gid, pk = await _product(hub, vendor="Acme")
    rid = f"audit-{uuid.uuid4().hex[:12]}"
    res = await hub.admin(
        UPDATE, {"id": gid, "i": {"title": "Renamed"}}, headers={"X-Request-Id": rid}
    )
    assert res["data"]["productUpdate"]["userErrors"] == [], res

    got = await _events(
        hub, {"operation": "productUpdate", "objectType": "products", "objectId": str(pk)}
    )
    assert len(got["nodes"]) == 1, got
    ev = got["nodes"][0]
    key = await _admin_key_pk(hub)
    assert ev["actor"] == {
        "kind": "api_key",
        "ref": f"api_key:{key}",
        "name": "tests-admin",
        "role": "admin",
    }
    assert ev["requestId"] == rid
    assert ev["clientAddress"] == "127.0.0.1"
    occurred = datetime.fromisoformat(ev["occurredAt"])
    assert abs(occurred - datetime.now(UTC)) < timedelta(minutes=1)
    assert {"type": "products", "id": str(pk)} in ev["objects"]
    [row] = [c for c in ev["changes"] if c["table"] == "products"]
    assert row["op"] == "update" and row["pk"] == pk
    assert row["before"]["title"] == f"Audit {row['before']['title'][6:]}"
    assert row["after"]["title"] == "Renamed"
    # Only what changed: the title and its time stamp, not the vendor or the handle.
    assert set(row["before"]) == set(row["after"])
    assert "vendor" not in row["after"] and "handle" not in row["after"]
    assert set(row["after"]) <= {"title", "updated_at"}


async def test_product_create_is_an_insert_with_its_values(hub: Hub) -> None:
    _, pk = await _product(hub, vendor="Insertco")
    got = await _events(
        hub, {"operation": "productCreate", "objectType": "products", "objectId": str(pk)}
    )
    [ev] = got["nodes"]
    [row] = [c for c in ev["changes"] if c["table"] == "products"]
    assert row["op"] == "insert" and row["before"] is None
    assert row["after"]["vendor"] == "Insertco" and row["after"]["id"] == pk


async def test_user_errors_record_nothing(hub: Hub) -> None:
    gid, pk = await _product(hub)
    res = await hub.admin(UPDATE, {"id": gid, "i": {"title": ""}})
    assert res["data"]["productUpdate"]["userErrors"], res
    got = await _events(
        hub, {"operation": "productUpdate", "objectType": "products", "objectId": str(pk)}
    )
    assert got["nodes"] == []


async def test_a_rolled_back_write_records_nothing(hub: Hub) -> None:
    """productCreate inserts the product, then its variant's SKU is refused by the
    unique index: the transaction rolls back, and with it the captured changes."""
    sku = f"AUDIT-{uuid.uuid4().hex[:10]}"
    await _product(hub, variants=[{"sku": sku}])
    before = await hub.scalar("SELECT count(*) FROM audit_events")
    h = f"audit-{uuid.uuid4().hex[:10]}"
    with hub.count_statements() as seen:
        res = await hub.admin(
            CREATE, {"i": {"handle": h, "title": "Dup", "variants": [{"sku": sku}]}}
        )
    out = res["data"]["productCreate"]
    assert out["userErrors"], out
    assert any(s.lstrip().upper().startswith("INSERT INTO PRODUCTS") for s in seen), seen
    assert await hub.scalar("SELECT count(*) FROM products WHERE handle = :h", h=h) == 0
    assert await hub.scalar("SELECT count(*) FROM audit_events") == before


async def test_secrets_are_redacted(hub: Hub) -> None:
    """A gift card's code is kept as a hash: its column reads "[redacted]", and neither
    the code nor its hash is anywhere in the log."""
    out = await issue(hub, "25.00")
    pk = ids.decode(out["giftCard"]["id"])[1]
    got = await _events(
        hub, {"operation": "giftCardIssue", "objectType": "gift_cards", "objectId": str(pk)}
    )
    [ev] = got["nodes"]
    [row] = [c for c in ev["changes"] if c["table"] == "gift_cards"]
    assert row["after"]["code_hash"] == audit.REDACTED
    assert row["after"]["initial_amount"] == 2500 and row["after"]["last4"]
    digest = await hub.scalar("SELECT code_hash FROM gift_cards WHERE id = :i", i=pk)
    raw = str(
        await hub.scalar(
            "SELECT changes FROM audit_events WHERE id = :i", i=ids.decode(ev["id"])[1]
        )
    )
    assert digest not in raw and out["code"] not in raw
    assert out["code"].replace("-", "") not in raw


async def test_a_key_token_hash_is_redacted(hub: Hub) -> None:
    """A key made under a scope (a job's, here): its token's hash reads "[redacted]"."""
    actor = audit.Actor("job", None, "key-rotation", "system")
    with audit.audit_scope(actor, "keys.rotate"):
        key_pk, token = await create_api_key(hub.db, f"audited-{uid()}", ["connector"])
    got = await _events(hub, {"objectType": "api_keys", "objectId": str(key_pk)})
    [ev] = got["nodes"]
    assert ev["operation"] == "keys.rotate" and ev["actor"]["ref"] is None
    [row] = ev["changes"]
    assert row["op"] == "insert" and row["after"]["token_hash"] == audit.REDACTED
    assert row["after"]["scopes"] == ["connector"]
    raw = str(
        await hub.scalar(
            "SELECT changes FROM audit_events WHERE id = :i", i=ids.decode(ev["id"])[1]
        )
    )
    assert token_digest(token) not in raw and token not in raw


async def test_storefront_and_checkout_write_no_audit(hub: Hub) -> None:
    """Carts and checkout are shoppers' writes: not audited, whoever calls them (a
    till's cash checkout uses the admin key), and not one statement more."""
    a = await stocked_variant(hub, {NEWARK: 20})
    before = await hub.scalar("SELECT count(*) FROM audit_events")
    for token in (hub.storefront_token, hub.admin_token):
        made = await create(
            hub,
            {
                "lines": [{"merchandiseId": a, "quantity": 1}],
                "buyerIdentity": {"email": f"a-{uid()}@example.com", "countryCode": "US"},
            },
            token=token,
        )
        with hub.count_statements() as seen:
            out = await checkout(
                hub, made["cart"]["id"], uid(), {"provider": "cash"}, hub.admin_token
            )
        assert out["userErrors"] == [], out
        assert not [s for s in seen if "audit_" in s], seen
    assert await hub.scalar("SELECT count(*) FROM audit_events") == before


async def test_the_cost_of_an_audited_write(hub: Hub) -> None:
    """productUpdate sets plain values: per UPDATE, the rows read before (1 SELECT), and
    at COMMIT the event (1 INSERT; a trigger indexes its objects)."""
    gid, _ = await _product(hub)
    with hub.count_statements() as seen:
        res = await hub.admin(UPDATE, {"id": gid, "i": {"title": "Costed"}})
    assert res["data"]["productUpdate"]["userErrors"] == [], res
    writes = [s for s in seen if s.lstrip().upper().startswith("UPDATE PRODUCTS")]
    logged = [s for s in seen if "audit_" in s]
    assert writes and len(logged) == 1 and logged[0].lstrip().upper().startswith("INSERT")
    reads = [s for s in seen if s.startswith("SELECT /* audit */")]
    assert len(reads) == len(writes), seen
    if hub.name == "postgresql":  # the rows the write changes, locked as they are read
        assert all("FOR UPDATE OF products" in s for s in reads), reads


async def test_an_update_by_expression_reads_its_rows_again(hub: Hub) -> None:
    """inventoryAdjust sets ``on_hand = on_hand + delta``: the level is read before and
    after (2 SELECTs), and the log holds both values."""
    vid = await make_variant(hub)
    loc = f"gid://hub/Location/{NEWARK}"
    first = {"variantId": vid, "locationId": loc, "delta": 5, "reason": "received"}
    assert (await op(hub, "inventoryAdjust", first))["userErrors"] == []
    again = {**first, "delta": 3, "reason": "correction"}
    with hub.count_statements() as seen:
        assert (await op(hub, "inventoryAdjust", again))["userErrors"] == []
    updates = [s for s in seen if s.lstrip().upper().startswith("UPDATE INVENTORY_LEVELS")]
    level_reads = [
        s for s in seen if s.startswith("SELECT /* audit */") and "FROM inventory_levels" in s
    ]
    assert len(updates) == 1 and len(level_reads) == 2, seen
    [ev] = (await _events(hub, {"operation": "inventoryAdjust"}, first=1))["nodes"]
    [level] = [c for c in ev["changes"] if c["table"] == "inventory_levels"]
    assert level["op"] == "update"
    assert (level["before"]["on_hand"], level["after"]["on_hand"]) == (5, 8)
    [move] = [c for c in ev["changes"] if c["table"] == "inventory_movements"]
    assert move["op"] == "insert" and move["after"]["reason"] == "correction"


async def test_a_job_or_connector_opens_its_own_scope(hub: Hub) -> None:
    """Outside GraphQL a job or connector names itself: its writes are logged under
    its actor and operation; what a savepoint rolled back is left out; without detail,
    only row counts."""
    _, pk = await _product(hub, vendor="Before")
    actor = audit.Actor("connector", 7007, "erp-feed", "connector")
    products = table_of(hub, "products")
    with audit.audit_scope(actor, "erp.pull"):
        async with hub.db.transaction() as conn:
            await conn.execute(update(products).where(products.c.id == pk).values(vendor="ERP"))
            with pytest.raises(RuntimeError):
                async with conn.begin_nested():
                    await conn.execute(
                        update(products).where(products.c.id == pk).values(title="Dropped")
                    )
                    raise RuntimeError("rolled back to the savepoint")
    [ev] = (await _events(hub, {"actor": "connector:7007"}))["nodes"]
    assert ev["operation"] == "erp.pull" and ev["requestId"] is None
    assert ev["actor"] == {
        "kind": "connector",
        "ref": "connector:7007",
        "name": "erp-feed",
        "role": "connector",
    }
    [row] = ev["changes"]
    assert (row["before"]["vendor"], row["after"]["vendor"]) == ("Before", "ERP")
    assert set(row["after"]) == {"vendor", "updated_at"}  # not the title rolled back
    # On an autocommit connection each write commits at once, and so does its record.
    with audit.audit_scope(actor, "erp.autocommit"):
        async with hub.db.read() as conn:
            await conn.execute(update(products).where(products.c.id == pk).values(vendor="Auto"))
    [ev] = (await _events(hub, {"actor": "connector:7007", "operation": "erp.autocommit"}))["nodes"]
    assert ev["changes"][0]["after"]["vendor"] == "Auto"
    with audit.audit_scope(actor, "erp.bulk", detail=False):
        with hub.count_statements() as seen:
            async with hub.db.transaction() as conn:
                await conn.execute(
                    update(products).where(products.c.id == pk).values(vendor="Bulk")
                )
    assert not [s for s in seen if s.startswith("SELECT /* audit */")], seen
    [ev] = (await _events(hub, {"actor": "connector:7007", "operation": "erp.bulk"}))["nodes"]
    assert ev["changes"] == [
        {"table": "products", "pk": None, "op": "update", "before": None, "after": None, "rows": 1}
    ]


async def test_a_bulk_write_keeps_500_rows_and_counts_the_rest(hub: Hub) -> None:
    """510 rows (with a two-column key) inserted, then deleted by one DELETE: each event
    keeps 500 rows and counts the other 10."""
    _, pk = await _product(hub)
    tags = table_of(hub, "product_tags")
    actor = audit.Actor("job", None, "bulk-tags", "system")
    with audit.audit_scope(actor, "bulk.tags"):
        async with hub.db.transaction() as conn:
            await conn.execute(
                insert(tags), [{"product_id": pk, "tag": f"bulk-{i:03}"} for i in range(510)]
            )
        async with hub.db.transaction() as conn:
            await conn.execute(delete(tags).where(tags.c.product_id == pk))
    got = await _events(hub, {"operation": "bulk.tags"}, first=2)
    deleted, inserted = got["nodes"]
    for ev, kind in ((inserted, "insert"), (deleted, "delete")):
        rows = [c for c in ev["changes"] if c["rows"] is None]
        assert len(rows) == 500 and {c["op"] for c in rows} == {kind}
        assert [c for c in ev["changes"] if c["rows"] is not None] == [
            {
                "table": "product_tags",
                "pk": None,
                "op": kind,
                "before": None,
                "after": None,
                "rows": 10,
            }
        ]
    assert inserted["changes"][0]["pk"] == [pk, "bulk-000"]
    assert {"type": "product_tags", "id": f"{pk}:bulk-000"} in inserted["objects"]
    one = await _events(hub, {"objectType": "product_tags", "objectId": f"{pk}:bulk-007"})
    assert [e["id"] for e in one["nodes"]] == [deleted["id"], inserted["id"]]


async def test_filters_and_pages(hub: Hub) -> None:
    gid, pk = await _product(hub)
    start = datetime.now(UTC)
    for n in range(3):
        res = await hub.admin(UPDATE, {"id": gid, "i": {"title": f"Paged {n}"}})
        assert res["data"]["productUpdate"]["userErrors"] == [], res
    mine = {"objectType": "products", "objectId": str(pk), "operation": "productUpdate"}
    first = await _events(hub, mine, first=2)
    assert len(first["nodes"]) == 2 and first["pageInfo"]["hasNextPage"] is True
    # Newest first.
    titles = [e["changes"][0]["after"]["title"] for e in first["nodes"]]
    assert titles == ["Paged 2", "Paged 1"]
    rest = await _events(hub, mine, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["changes"][0]["after"]["title"] for e in rest["nodes"]] == ["Paged 0"]
    assert rest["pageInfo"]["hasNextPage"] is False
    key = await _admin_key_pk(hub)
    assert len((await _events(hub, {**mine, "actor": f"api_key:{key}"}))["nodes"]) == 3
    assert len((await _events(hub, {**mine, "actor": "tests-admin"}))["nodes"]) == 3
    assert (await _events(hub, {**mine, "actor": f"api_key:{key + 999}"}))["nodes"] == []
    assert (await _events(hub, {**mine, "to": start.isoformat()}))["nodes"] == []
    assert len((await _events(hub, {**mine, "from": start.isoformat()}))["nodes"]) == 3
    assert (await _events(hub, {**mine, "operation": "productDelete"}))["nodes"] == []
    # Every event the page shows, in one statement (no query per event or object).
    with hub.count_statements() as seen:
        await _events(hub, {"objectType": "products"}, first=50)
    assert len(seen) <= 2, seen  # the key check (cached) and the page
    bad = await hub.admin(EVENTS, {"f": mine, "after": "nonsense"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    too_many = await hub.admin(EVENTS, {"f": mine, "first": 100_000})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_PAGE"


async def test_only_staff_read_the_log(hub: Hub) -> None:
    res = await hub.gql(EVENTS, {}, token=hub.storefront_token)
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    res = await hub.gql(EVENTS, {})
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


async def test_the_log_is_append_only(hub: Hub) -> None:
    """No mutation touches the log, and the database refuses UPDATE and DELETE of its
    rows (and moving the retention mark back)."""
    res = await hub.admin('{ __type(name: "Mutation") { fields { name } } }')
    names = [f["name"] for f in res["data"]["__type"]["fields"]]
    assert names and not [n for n in names if "audit" in n.lower()]
    _, pk = await _product(hub)
    [ev] = (await _events(hub, {"objectType": "products", "objectId": str(pk)}))["nodes"]
    event_pk = ids.decode(ev["id"])[1]
    for sql in (
        "UPDATE audit_events SET operation = 'forged' WHERE id = :i",
        "UPDATE audit_events SET changes = '[]' WHERE id = :i",
        "DELETE FROM audit_events WHERE id = :i",
        "UPDATE audit_objects SET object_id = 'x' WHERE event_id = :i",
        "DELETE FROM audit_objects WHERE event_id = :i",
        "UPDATE audit_retention SET purge_before = '1960-01-01 00:00:00' WHERE id = 1",
        "DELETE FROM audit_retention",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|only moves forward"):
            async with hub.db.transaction() as conn:
                await conn.execute(text(sql), {"i": event_pk})
    if hub.name == "postgresql":
        for table in ("audit_events", "audit_objects"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with hub.db.transaction() as conn:
                    await conn.execute(text(f"TRUNCATE {table} CASCADE"))
    assert (
        await hub.scalar("SELECT operation FROM audit_events WHERE id = :i", i=event_pk)
        == "productCreate"
    )
    assert (
        await hub.scalar("SELECT count(*) FROM audit_objects WHERE event_id = :i", i=event_pk) >= 1
    )


async def test_retention_deletes_only_what_is_past_it(hub: Hub) -> None:
    """The retention job moves the mark to now - days and deletes what is older; what
    is newer stays, and the database still refuses to delete it."""
    _, old = await _product(hub)
    middle = datetime.now(UTC) + timedelta(milliseconds=5)
    await asyncio.sleep(0.05)
    _, new = await _product(hub)
    assert await audit.purge(hub.db, 0) == 0  # 0: keep forever
    # As if a day after ``middle`` with one day's retention.
    purged = await audit.purge(hub.db, 1, now=middle + timedelta(days=1))
    assert purged >= 1
    assert (await _events(hub, {"objectType": "products", "objectId": str(old)}))["nodes"] == []
    kept = await _events(hub, {"objectType": "products", "objectId": str(new)})
    assert len(kept["nodes"]) == 1
    mark = await hub.scalar("SELECT purge_before FROM audit_retention WHERE id = 1")
    assert mark is not None
    assert (
        await hub.scalar("SELECT count(*) FROM audit_events WHERE occurred_at < :m", m=middle) == 0
    )
    with pytest.raises(DBAPIError, match="append-only"):
        async with hub.db.transaction() as conn:
            await conn.execute(text("DELETE FROM audit_events"))
    # The hub's own job (HUB_AUDIT_RETENTION_DAYS, 365 by default) keeps today's events.
    assert await hub.app.state.hub.purge_audit() == 0
    assert len((await _events(hub, {"objectType": "products", "objectId": str(new)}))["nodes"]) == 1
