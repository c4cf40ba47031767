"""The outbox events of a customer profile: ``customer.created`` and
``customer.updated``, with the profile as it is after the change (what a CRM or a
webhook receiver needs to mirror it), the fields that changed (as the API names them)
and where the change came from (``staff``, ``storefront``, or ``connector:<id>`` for a
connector's sync, so that connector can leave its own changes out of what it sends)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.domain.customers.records import get_customer
from hub.events.outbox import Outbox

CREATED = "customer.created"
UPDATED = "customer.updated"


def api_name(field: str) -> str:
    """A domain field as the API names it (``first_name`` -> ``firstName``)."""
    head, *rest = field.split("_")
    return head + "".join(w.capitalize() for w in rest)


async def emit_profile(
    conn: AsyncConnection,
    outbox: Outbox | None,
    pk: int,
    topic: str,
    changed: Iterable[str],
    source: str,
) -> None:
    """Queue ``topic`` for customer ``pk`` (read on ``conn``, after the change)."""
    if outbox is None:
        return
    found = await get_customer(conn, pk)
    if found is None:
        return
    outbox.add(
        topic,
        {
            "customerId": pk,
            "id": found.id,
            "email": found.email,
            "phone": found.phone,
            "firstName": found.first_name,
            "lastName": found.last_name,
            "customerGroup": found.customer_group,
            "segments": found.segments,
            "acceptsMarketing": found.accepts_marketing,
            "changed": sorted({api_name(f) for f in changed if f != "phone_key"}),
            "source": source,
        },
    )
