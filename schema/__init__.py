"""The GraphQL surface: ``build_schema()`` assembles the domain modules' types, the
plugins' contributions (:mod:`plugins`) and the engine (:mod:`schema.engine`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import strawberry
from strawberry.extensions import AddValidationRules
from strawberry.types import Info

from hub.ratelimit import Limiter
from hub.settings import Settings
from plugins import Plugin
from schema.accounts import AccountMutation, AccountQuery
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
from schema.price_lists import PricingMutation, PricingQuery
from schema.promotions import PromotionMutation, PromotionQuery
from schema.relay import Node, node_types, resolve_nodes
from schema.scalars import SCALAR_OVERRIDES
from schema.shipping import ShippingMutation, ShippingQuery
from schema.subscriptions import Subscription


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
    ConnectorQuery,
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
    ConnectorMutation,
):
    pass


MAX_ALIASES = 50
MAX_TOKENS = 10_000


def _root(name: str, base: type, extra: Sequence[type]) -> type:
    """``base``, or a root type of that name with the plugins' fields added."""
    if not extra:
        return base
    return strawberry.type(type(name, (*extra, base), {}), name=name)


def build_schema(
    settings: Settings, plugins: Sequence[Plugin] = (), *, limiter: Limiter | None = None
) -> strawberry.Schema:
    """The schema with its limits: documents cached within HUB_DOCUMENT_CACHE_BYTES, depth,
    aliases and tokens checked before validation, cost priced and taken from the client's
    budget on ``limiter`` (none without one), introspection as HUB_INTROSPECTION says.
    ``plugins`` add root fields, types and extensions (see :class:`plugins.Plugin`)."""
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
        extensions.extend(plugin.extensions)
    if not settings.introspection:
        # Rules fixed once: the document cache keeps a validation result per rule set.
        extensions.insert(0, partial(AddValidationRules, [NoIntrospection]))
    schema = HubSchema(
        query=_root("Query", Query, [t for p in plugins for t in p.query]),
        mutation=_root("Mutation", Mutation, [t for p in plugins for t in p.mutation]),
        subscription=Subscription,
        types=[t for p in plugins for t in p.types],
        extensions=extensions,
        # HubExecutionContext, plus one shared execution per subscription event.
        execution_context_class=SubscriptionExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
    )
    # attr-defined: the document store rides on the schema for the tests and the app.
    schema.documents = store  # type: ignore[attr-defined]
    gql = schema._schema
    gql.directives = (*gql.directives, IN_CONTEXT)
    # Every argument checked before its resolver runs (text, decimals, times, JSON).
    install_input_guard(gql)
    attrs = plain_attribute_resolvers(gql, schema.config.name_converter)
    mark_fast_fields(gql, attrs)
    mark_direct(schema)
    return schema


__all__ = ["UNAVAILABLE_MESSAGE", "Mutation", "Query", "build_schema"]
