"""The GraphQL surface: ``build_schema()`` assembles the domain modules' types, the
plugins' contributions (:mod:`plugins`) and the engine (:mod:`schema.engine`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.extensions import AddValidationRules
from strawberry.types import Info

from hub.ratelimit import Limiter
from hub.settings import Settings
from plugins import Plugin
from schema import audit
from schema.accounts import AccountMutation, AccountQuery
from schema.audit import AuditQuery
from schema.carts import CartMutation, CartQuery
from schema.catalog import CatalogAdminMutation, CatalogQuery
from schema.checkout import CheckoutMutation
from schema.customer_profiles import CustomerProfileMutation, CustomerProfileQuery
from schema.customers import CustomerMutation, CustomerQuery
from schema.directives import IN_CONTEXT
from schema.documents import DocumentCache, DocumentStore, NoIntrospection
from schema.engine import (
    MASKED_MESSAGE,
    UNAVAILABLE_MESSAGE,
    HubMaskErrors,
    HubSchema,
    SubscriptionExecutionContext,
    mark_direct,
    mark_fast_fields,
    plain_attribute_resolvers,
    should_mask,
)
from schema.errors import ApiCode, ApiError
from schema.giftcards import GiftCardMutation, GiftCardQuery
from schema.inputs import install as install_input_guard
from schema.integrations import ConnectorMutation, ConnectorQuery
from schema.inventory import InventoryMutation, InventoryQuery
from schema.limits import Budget, QueryCost
from schema.loyalty import LoyaltyMutation, LoyaltyQuery
from schema.orders import OrderMutation, OrderQuery
from schema.orders.fulfillment_mutations import FulfillmentMutation, FulfillmentQuery
from schema.orders.return_mutations import ReturnMutation
from schema.plugins import PluginQuery
from schema.price_lists import PricingMutation, PricingQuery
from schema.promotions import PromotionMutation, PromotionQuery
from schema.relay import Node, node_types, resolve_nodes
from schema.scalars import SCALAR_OVERRIDES
from schema.shipping import ShippingMutation, ShippingQuery
from schema.staff import StaffMutation, StaffQuery
from schema.subscriptions import Subscription
from schema.till import TillMutation, TillQuery
from schema.webhooks import WebhookMutation, WebhookQuery


@strawberry.type
class NodeQuery:
    # Each schema module registers its node types (schema.relay.register_node), with
    # the visibility of its own queries: null when missing or not yours.
    @strawberry.field(
        description=f"Any object by global id ({', '.join(node_types())}); null if it "
        "doesn't exist or isn't yours."
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return (await resolve_nodes(info, [id]))[0]

    @strawberry.field(
        description="Several objects by global id, in the order asked (max 250); "
        "each type loads in one batch."
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        limit = info.context.settings.max_page_size
        if len(ids) > limit:
            raise ApiError(f"ask for at most {limit} ids at once", ApiCode.INVALID_PAGE)
        return await resolve_nodes(info, ids)


@strawberry.type
class Query(
    NodeQuery,
    CatalogQuery,
    InventoryQuery,
    CustomerQuery,
    CustomerProfileQuery,
    LoyaltyQuery,
    PricingQuery,
    ShippingQuery,
    PromotionQuery,
    CartQuery,
    OrderQuery,
    FulfillmentQuery,
    GiftCardQuery,
    AccountQuery,
    PluginQuery,
    AuditQuery,
    WebhookQuery,
    ConnectorQuery,
    StaffQuery,
    TillQuery,
):
    pass


@strawberry.type
class Mutation(
    CatalogAdminMutation,
    InventoryMutation,
    CustomerMutation,
    CustomerProfileMutation,
    LoyaltyMutation,
    PricingMutation,
    ShippingMutation,
    PromotionMutation,
    CartMutation,
    CheckoutMutation,
    ReturnMutation,
    FulfillmentMutation,
    OrderMutation,
    GiftCardMutation,
    AccountMutation,
    WebhookMutation,
    ConnectorMutation,
    StaffMutation,
    TillMutation,
):
    pass


MAX_ALIASES = 50
MAX_TOKENS = 10_000


def _root(name: str, base: type, extra: Sequence[type]) -> type:
    """``base``, or a root type of that name with the plugins' fields added."""
    if not extra:
        return base
    return strawberry.type(type(name, (*extra, base), {}), name=name)


class PluginSchemaError(Exception):
    """A plugin's schema contribution does not fit the hub's schema."""


def build_schema(
    settings: Settings,
    plugins: Sequence[Plugin] = (),
    *,
    limiter: Limiter | None = None,
    on_error: Callable[[Plugin, Exception], None] | None = None,
) -> strawberry.Schema:
    """The schema with its limits: documents cached within HUB_DOCUMENT_CACHE_BYTES, depth,
    aliases and tokens checked before validation, cost priced and taken from the client's
    budget on ``limiter`` (none without one), introspection as HUB_INTROSPECTION says.
    ``plugins`` add root fields, types, fields of the hub's types and extensions (see
    :class:`plugins.Plugin`). When they break the build and ``on_error`` is given, each
    plugin that does is reported to it and left out (without it the error is raised)."""
    try:
        return _build(settings, plugins, limiter)
    except Exception:
        if on_error is None or not plugins:
            raise
    # Find the culprits: add the plugins one at a time to those known to fit.
    fit: list[Plugin] = []
    for plugin in plugins:
        try:
            _build(settings, [*fit, plugin], limiter)
        except Exception as exc:
            on_error(plugin, exc)
        else:
            fit.append(plugin)
    return _build(settings, fit, limiter)


def _build(
    settings: Settings, plugins: Sequence[Plugin], limiter: Limiter | None
) -> strawberry.Schema:
    store = DocumentStore(
        max_bytes=settings.document_cache_bytes,
        max_tokens=MAX_TOKENS,
        max_depth=settings.max_query_depth,
        max_aliases=MAX_ALIASES,
    )
    budget = Budget(
        limiter,
        settings.cost_bucket_size,
        settings.cost_restore_rate,
        settings.cost_key_bucket_sizes,
    )
    extensions: list[Any] = [
        partial(DocumentCache, store=store),
        partial(
            QueryCost,
            max_cost=settings.max_query_cost,
            max_page=settings.max_page_size,
            budget=budget,
        ),
        partial(HubMaskErrors, should_mask_error=should_mask, error_message=MASKED_MESSAGE),
    ]
    for plugin in plugins:
        extensions.extend(getattr(plugin, "extensions", ()))
    if not settings.introspection:
        # Rules fixed once: the document cache keeps a validation result per rule set.
        extensions.insert(0, partial(AddValidationRules, [NoIntrospection]))
    schema = HubSchema(
        query=_root("Query", Query, [t for p in plugins for t in getattr(p, "query", ())]),
        mutation=_root(
            "Mutation", Mutation, [t for p in plugins for t in getattr(p, "mutation", ())]
        ),
        subscription=Subscription,
        types=[
            *(t for p in plugins for t in getattr(p, "types", ())),
            *(ext for p in plugins for _, ext in _type_extensions(p)),
        ],
        extensions=extensions,
        # HubExecutionContext, plus one shared execution per subscription event.
        execution_context_class=SubscriptionExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
    )
    # attr-defined: the document store rides on the schema for the tests and the app.
    schema.documents = store  # type: ignore[attr-defined]
    gql = schema._schema
    for plugin in plugins:
        _extend_types(gql, plugin, schema)
    gql.directives = (*gql.directives, IN_CONTEXT)
    # Every argument checked before its resolver runs (text, decimals, times, JSON).
    install_input_guard(gql)
    # Every root mutation run by an admin, staff, connector or partner is audited.
    audit.install(gql)
    attrs = plain_attribute_resolvers(gql, schema.config.name_converter)
    mark_fast_fields(gql, attrs)
    mark_direct(schema)
    return schema


def _type_extensions(plugin: Plugin) -> list[tuple[str, type]]:
    """(hub type name, strawberry type) for each of ``plugin.type_extensions``."""
    out: list[tuple[str, type]] = []
    for target, given in (getattr(plugin, "type_extensions", None) or {}).items():
        for ext in given if isinstance(given, (list, tuple)) else (given,):
            out.append((target, ext))
    return out


def _extend_types(gql: Any, plugin: Plugin, schema: strawberry.Schema) -> None:
    """Move the fields of the plugin's extension types onto the hub's types they name;
    the extension types themselves leave the schema."""
    for target, ext in _type_extensions(plugin):
        into = gql.type_map.get(target)
        if not isinstance(into, GraphQLObjectType) or target.startswith("__"):
            raise PluginSchemaError(f"{plugin.name}: no object type {target!r} to extend")
        name = getattr(getattr(ext, "__strawberry_definition__", None), "name", None)
        source = gql.type_map.get(name)
        if not isinstance(source, GraphQLObjectType):
            raise PluginSchemaError(f"{plugin.name}: {ext.__name__} is not an object type")
        for field_name, fdef in source.fields.items():
            if field_name in into.fields:
                raise PluginSchemaError(f"{plugin.name}: {target}.{field_name} exists already")
            into.fields[field_name] = fdef
        del gql.type_map[name]


__all__ = ["UNAVAILABLE_MESSAGE", "Mutation", "PluginSchemaError", "Query", "build_schema"]
