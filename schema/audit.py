"""The audit log over GraphQL: ``auditEvents`` (staff with the ``audit`` permission),
and :func:`install`, which opens an audit scope around every root mutation field run
by an audited principal (admin, staff, connector, partner) so the database layer
records its writes (:mod:`hub.domain.audit`). There is no mutation of the log."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import strawberry
from graphql import GraphQLSchema, default_field_resolver
from strawberry.scalars import JSON
from strawberry.types import Info

from hub import ids
from hub.domain import audit
from hub.domain.paging import InvalidCursor, PageRequest
from hub.edge import client_address
from schema.errors import ApiCode, ApiError
from schema.permissions import needs
from schema.relay import Connection, ConnectionValue, forward_paged


@strawberry.type(name="AuditActor", description="Who wrote.")
class AuditActorType:
    kind: str = strawberry.field(
        description="What `ref` names: `api_key`, `staff_user`, `connector`, `job`."
    )
    ref: str | None = strawberry.field(
        description="`kind:id` (e.g. `api_key:12`), as the `actor` filter takes it."
    )
    name: str
    role: str = strawberry.field(
        description="The power it wrote with: admin, staff, connector, partner, system."
    )


@strawberry.type(name="AuditObject", description="A row an event changed.")
class AuditObjectType:
    type: str = strawberry.field(description="Its table (e.g. `products`).")
    id: str = strawberry.field(description="Its primary key (`a:b` when composite).")


@strawberry.type(name="AuditChange", description="One row's change.")
class AuditChangeType:
    table: str
    pk: JSON | None = strawberry.field(
        description="The row's primary key (null: unknown, or a summary entry)."
    )
    op: str = strawberry.field(description="insert, update or delete.")
    before: JSON | None = strawberry.field(
        description='The changed columns before (updates, deletes); secrets read "[redacted]".'
    )
    after: JSON | None = strawberry.field(
        description='The changed columns after (inserts, updates); secrets read "[redacted]".'
    )
    rows: int | None = strawberry.field(
        description="For a summary entry (more rows than an event keeps, or an "
        "INSERT ... SELECT): how many rows."
    )


def _change(c: dict[str, Any]) -> AuditChangeType:
    return AuditChangeType(
        table=c["table"],
        pk=cast(JSON, c.get("pk")),
        op=c["op"],
        before=c.get("before"),
        after=c.get("after"),
        rows=c.get("rows"),
    )


@strawberry.type(name="AuditEvent", description="One audited write.")
class AuditEventType:
    id: strawberry.ID
    occurred_at: datetime
    actor: AuditActorType
    operation: str = strawberry.field(
        description="The GraphQL mutation field, or the job's or connector's operation."
    )
    request_id: str | None
    client_address: str | None
    objects: list[AuditObjectType]
    changes: list[AuditChangeType]

    @staticmethod
    def of(r: audit.AuditEventRecord) -> AuditEventType:
        a = r.actor
        return AuditEventType(
            id=strawberry.ID(ids.encode("AuditEvent", r.pk)),
            occurred_at=r.occurred_at,
            actor=AuditActorType(
                kind=a.kind,
                ref=None if a.id is None else f"{a.kind}:{a.id}",
                name=a.name,
                role=a.role,
            ),
            operation=r.operation,
            request_id=r.request_id,
            client_address=r.client_address,
            objects=[AuditObjectType(type=t, id=i) for t, i in r.objects],
            changes=[_change(c) for c in r.changes],
        )


@strawberry.input(description="Which audit events (every given condition holds).")
class AuditEventFilter:
    actor: str | None = strawberry.field(
        default=None, description="An actor's name, or `kind:id` (e.g. `api_key:12`)."
    )
    operation: str | None = strawberry.field(
        default=None, description="The operation, e.g. the mutation `productUpdate`."
    )
    object_type: str | None = strawberry.field(
        default=None, description="Events that changed a row of this table (`products`)."
    )
    object_id: str | None = strawberry.field(
        default=None, description="... with this primary key (with `objectType`, best)."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="At or after this time."
    )
    to: datetime | None = strawberry.field(default=None, description="Before this time.")


@strawberry.type
class AuditQuery:
    @strawberry.field(
        permission_classes=needs("audit"),
        description="The audit log, newest first: every write by an admin, staff user, "
        "connector or partner, with who, what, when, from where and the changed "
        "columns before and after (staff with the audit permission).",
    )
    @forward_paged
    async def audit_events(
        self, info: Info, page: PageRequest, filter: AuditEventFilter | None = None
    ) -> Connection[AuditEventType]:
        f = filter or AuditEventFilter()
        wanted = audit.AuditFilter(
            actor=f.actor,
            operation=f.operation,
            object_type=f.object_type,
            object_id=f.object_id,
            since=f.from_,
            until=f.to,
        )
        try:
            recs, cursors, has_next = await audit.events(
                info.context.reader, wanted, page.size(20), page.after
            )
        except InvalidCursor as exc:
            raise ApiError(str(exc), ApiCode.INVALID_CURSOR) from None
        got = ConnectionValue(
            [AuditEventType.of(r) for r in recs], cursors, has_next, page.after is not None
        )
        return cast(Connection[AuditEventType], got)


# ----------------------------------------------------------------- auditing mutations


def install(schema: GraphQLSchema) -> list[str]:
    """Run every staff mutation inside an audit scope when its principal is audited
    (:func:`hub.domain.audit.actor_of`); returns their names.

    A staff mutation is one with permission classes (``needs(...)``). The storefront's
    mutations (carts, checkout, customer accounts: open fields that check the caller
    themselves) are shoppers' writes and are not audited, whoever calls them: a
    till's checkout with a staff key costs what any checkout costs."""
    mutation = schema.mutation_type
    if mutation is None:
        return []
    audited = []
    for name, field in mutation.fields.items():
        definition = (field.extensions or {}).get("strawberry-definition")
        if not getattr(definition, "permission_classes", None):
            continue
        field.resolve = _audited(field.resolve or default_field_resolver, name)
        audited.append(name)
    return audited


def _audited(resolve: Callable[..., Any], operation: str) -> Callable[..., Any]:
    def audited(source: Any, info: Any, **kwargs: Any) -> Any:
        ctx = info.context
        principal = getattr(ctx, "principal", None)
        actor = None if principal is None else audit.actor_of(principal)
        if actor is None:
            return resolve(source, info, **kwargs)
        return _in_scope(resolve, operation, actor, source, info, kwargs)

    # attr-defined: graphql-core's marker for a default resolver, set on a function.
    audited._is_default = getattr(resolve, "_is_default", False)  # type: ignore[attr-defined]
    return audited


async def _in_scope(
    resolve: Callable[..., Any],
    operation: str,
    actor: audit.Actor,
    source: Any,
    info: Any,
    kwargs: dict[str, Any],
) -> Any:
    ctx = info.context
    address = getattr(ctx, "address", None)
    request = getattr(ctx, "request", None)
    if address is None and request is not None:
        address = client_address(request.scope)
    with audit.audit_scope(
        actor, operation, request_id=getattr(ctx, "request_id", None), client_address=address
    ):
        result = resolve(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result
