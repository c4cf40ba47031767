"""The hub side of a CRM sync (``hub.domain.integrations.crm.upsert_customers``): rows
matched by email then phone, profiles created or changed, consent recorded through the
consent code; every effect read back through GraphQL (``customer(id:)`` as staff) and
the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.base import CustomerRow
from hub import ids
from hub.domain.integrations.crm import upsert_customers
from hub.events.outbox import read_after
from tests.helpers.client import Hub

CUSTOMER = """query($id: ID!) { customer(id: $id) {
  id email phone firstName lastName customerGroup segments acceptsMarketing
  marketingConsents { topic granted source } } }"""
CREATE = """mutation($input: CustomerInput!) { staffCustomerCreate(input: $input) {
  customer { id } userErrors { field code message } } }"""


def mail() -> str:
    return f"crm-{uuid.uuid4().hex[:10]}@Example.com"


def phone() -> str:
    return "+31 6 " + str(uuid.uuid4().int)[:8]


async def customer(hub: Hub, pk: int) -> dict[str, Any]:
    got = await hub.gql(CUSTOMER, {"id": ids.encode("Customer", pk)}, token=hub.admin_token)
    assert "errors" not in got, got
    found: dict[str, Any] = got["data"]["customer"]
    return found


async def events_since(hub: Hub, position: tuple[int, int]) -> list[tuple[str, dict[str, Any]]]:
    read = await read_after(hub.db, position, 1000)
    return [(e.topic, e.payload) for e in [*read.events, *read.ahead]]


async def head(hub: Hub) -> tuple[int, int]:
    pos: tuple[int, int] = (0, 0)
    while True:
        read = await read_after(hub.db, pos, 1000)
        if not read.events and not read.ahead:
            return pos
        pos = read.cursor
        if len(read.events) < 1000:
            return pos


async def test_new_profiles_are_created_with_their_consent(hub: Hub) -> None:
    a, b = mail(), mail()
    start = await head(hub)
    results = await upsert_customers(
        hub.db,
        [
            CustomerRow(a, phone(), "Ada", "Lovelace", "crm-1", True, {"segments": ["VIP"]}),
            CustomerRow(b, None, "Bob", None, "crm-2", None, {"customer_group": "wholesale"}),
        ],
        source="connector:test",
    )
    assert [(r.key, r.status) for r in results] == [("crm-1", "created"), ("crm-2", "created")]
    ada = await customer(hub, results[0].id or 0)
    assert ada["email"] == a.lower() and ada["firstName"] == "Ada"
    assert ada["segments"] == ["vip"] and ada["acceptsMarketing"] is True
    assert ada["marketingConsents"] == [{"topic": "EMAIL", "granted": True, "source": "import"}]
    bob = await customer(hub, results[1].id or 0)
    assert bob["customerGroup"] == "wholesale" and bob["acceptsMarketing"] is False
    assert bob["marketingConsents"] == []
    mine = {results[0].id, results[1].id}
    created = [
        p
        for t, p in await events_since(hub, start)
        if t == "customer.created" and p["customerId"] in mine
    ]
    assert {p["customerId"] for p in created} == {results[0].id, results[1].id}
    assert all(p["source"] == "connector:test" for p in created)
    first = next(p for p in created if p["customerId"] == results[0].id)
    assert first["email"] == a.lower() and first["segments"] == ["vip"]
    assert first["acceptsMarketing"] is True and "acceptsMarketing" in first["changed"]


async def test_matched_by_email_then_phone_and_only_changes_are_written(hub: Hub) -> None:
    a, tel = mail(), phone()
    made = await hub.gql(
        CREATE,
        {"input": {"email": a, "phone": tel, "firstName": "Cy", "lastName": "Young"}},
        token=hub.admin_token,
    )
    pk = ids.decode(made["data"]["staffCustomerCreate"]["customer"]["id"], "Customer")[1]
    start = await head(hub)

    # By email (any case): the name changes, the consent is given.
    (r,) = await upsert_customers(hub.db, [CustomerRow(a.upper(), None, "Cyrus", None, "x1", True)])
    assert (r.status, r.id) == ("updated", pk)
    # The same row again changes nothing and queues no event.
    (same,) = await upsert_customers(hub.db, [CustomerRow(a, None, "Cyrus", None, "x1", True)])
    assert (same.status, same.id) == ("unchanged", pk)
    # By phone (other punctuation) when the email is unknown: the CRM's email wins,
    # the consent is withdrawn.
    new_mail = mail()
    digits = "".join(ch for ch in tel if ch.isdigit())
    (p,) = await upsert_customers(
        hub.db, [CustomerRow(new_mail, f"+{digits}", None, "Y.", "x1", False)]
    )
    assert (p.status, p.id) == ("updated", pk)

    got = await customer(hub, pk)
    assert got["email"] == new_mail.lower()
    assert (got["firstName"], got["lastName"], got["phone"]) == ("Cyrus", "Y.", f"+{digits}")
    assert got["acceptsMarketing"] is False
    assert got["marketingConsents"] == [{"topic": "EMAIL", "granted": False, "source": "import"}]
    updates = [
        p
        for t, p in await events_since(hub, start)
        if t == "customer.updated" and p["customerId"] == pk
    ]
    assert [(u["customerId"], u["changed"]) for u in updates] == [
        (pk, ["acceptsMarketing", "firstName"]),
        (pk, ["acceptsMarketing", "email", "lastName", "phone"]),
    ]
    # The event carries the profile as it is after the change.
    assert updates[-1]["email"] == new_mail.lower() and updates[-1]["acceptsMarketing"] is False


async def test_bad_rows_are_rejected_one_by_one_and_write_nothing(hub: Hub) -> None:
    good, dup = mail(), mail()
    start = await head(hub)
    results = await upsert_customers(
        hub.db,
        [
            CustomerRow("not-an-email", None, "Bad", None, "b1"),
            CustomerRow(None, None, "Nobody", None, "b2"),
            CustomerRow(None, phone(), "Only phone", None, "b3"),
            CustomerRow(good, "12 ab !!", None, None, "b4"),
            CustomerRow(good, None, "x" * 300, None, "b5"),
            CustomerRow(good, None, None, None, "b6", None, {"favourite_colour": "red"}),
            CustomerRow(dup, None, "First", None, "b7"),
            CustomerRow(dup.upper(), None, "Second", None, "b8"),
        ],
    )
    assert [(r.key, r.status, r.code) for r in results] == [
        ("b1", "rejected", "INVALID"),
        ("b2", "rejected", "BLANK"),
        ("b3", "rejected", "BLANK"),
        ("b4", "rejected", "INVALID"),
        ("b5", "rejected", "TOO_LONG"),
        ("b6", "rejected", "INVALID"),
        ("b7", "created", None),
        ("b8", "updated", None),  # the same email twice in a batch: one profile
    ]
    assert results[3].message and results[3].message.startswith("phone:")
    assert results[6].id == results[7].id
    assert (await customer(hub, results[6].id or 0))["firstName"] == "Second"
    topics = [t for t, p in await events_since(hub, start) if p.get("customerId") == results[6].id]
    assert topics == ["customer.created", "customer.updated"]


async def test_a_phone_shared_by_two_profiles_matches_neither(hub: Hub) -> None:
    tel = phone()
    for _ in range(2):
        made = await hub.gql(
            CREATE, {"input": {"email": mail(), "phone": tel}}, token=hub.admin_token
        )
        assert made["data"]["staffCustomerCreate"]["userErrors"] == []
    (r,) = await upsert_customers(hub.db, [CustomerRow(None, tel, "Who", None, "s1")])
    assert (r.status, r.code) == ("rejected", "BLANK")
    # With an email too, a new profile is made rather than guessing one of the two.
    (n,) = await upsert_customers(hub.db, [CustomerRow(mail(), tel, "New", None, "s2")])
    assert n.status == "created"


UPDATE = """mutation($id: ID!, $input: CustomerInput!) {
  staffCustomerUpdate(id: $id, input: $input) {
  customer { id } userErrors { field code message } } }"""


async def test_staff_changes_queue_customer_events_a_crm_can_push(hub: Hub) -> None:
    start = await head(hub)
    made = await hub.gql(
        CREATE, {"input": {"email": mail(), "firstName": "Di"}}, token=hub.admin_token
    )
    gid = made["data"]["staffCustomerCreate"]["customer"]["id"]
    pk = ids.decode(gid, "Customer")[1]
    changed = await hub.gql(UPDATE, {"id": gid, "input": {"lastName": "Ng"}}, token=hub.admin_token)
    assert changed["data"]["staffCustomerUpdate"]["userErrors"] == []
    got = [(t, p) for t, p in await events_since(hub, start) if p.get("customerId") == pk]
    assert [(t, p["changed"], p["source"]) for t, p in got] == [
        ("customer.created", ["email", "firstName"], "staff"),
        ("customer.updated", ["lastName"], "staff"),
    ]
    assert got[1][1]["id"] == gid and (got[1][1]["firstName"], got[1][1]["lastName"]) == (
        "Di",
        "Ng",
    )
