"""The GraphQL surface: ``build_schema()`` assembles the domain modules' types."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLObjectType, GraphQLSchema
from strawberry.extensions import AddValidationRules, MaskErrors, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import Info

from hub.db.outage import database_unavailable
from hub.ratelimit import Limiter
from hub.settings import Settings
from schema.carts import CartMutation, CartQuery
from schema.catalog import CatalogAdminMutation, CatalogQuery
from schema.checkout import CheckoutMutation, CheckoutQuery
from schema.customers import CustomerMutation, CustomerQuery
from schema.directives import IN_CONTEXT
from schema.documents import DocumentCache, DocumentStore, NoIntrospection, set_code
from schema.errors import ApiError
from schema.execution import mark_fast_fields
from schema.giftcards import GiftCardMutation, GiftCardQuery
from schema.inputs import install as install_input_guard
from schema.inventory import InventoryMutation, InventoryQuery
from schema.limits import Budget, QueryCost, refuse_http
from schema.price_lists import PricingMutation, PricingQuery
from schema.promotions import PromotionMutation, PromotionQuery
from schema.relay import Node, node_types, resolve_nodes
from schema.scalars import SCALAR_OVERRIDES
from schema.shipping import ShippingMutation, ShippingQuery
from schema.subscriptions import Subscription, SubscriptionExecutionContext

log = logging.getLogger("hub.graphql")

# Exceptions whose message is meant for the client; anything else is masked.
_SAFE = (ApiError,)


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
            raise ApiError(f"ask for at most {limit} ids at once", "INVALID_PAGE")
        return await resolve_nodes(info, ids)


@strawberry.type
class Query(
    NodeQuery,
    CatalogQuery,
    InventoryQuery,
    CustomerQuery,
    PricingQuery,
    ShippingQuery,
    PromotionQuery,
    CartQuery,
    CheckoutQuery,
    GiftCardQuery,
):
    pass


@strawberry.type
class Mutation(
    CatalogAdminMutation,
    InventoryMutation,
    CustomerMutation,
    PricingMutation,
    ShippingMutation,
    PromotionMutation,
    CartMutation,
    CheckoutMutation,
    GiftCardMutation,
):
    pass


# strawberry's refusals of an operation's type or name: the client's doing, not a bug.
_REQUEST_ERRORS = (InvalidOperationTypeError, CannotGetOperationTypeError)


def _should_mask(error: GraphQLError) -> bool:
    orig = error.original_error
    if orig is None or isinstance(orig, (GraphQLError, *_REQUEST_ERRORS)):
        # Validation errors, ApiError and permission errors are for the client.
        return False
    return True


UNAVAILABLE_MESSAGE = "the database is unavailable; retry in a moment"


class _MaskErrors(MaskErrors):
    """Every error leaves with an ``extensions.code``: an error of our own code keeps
    its message; a database outage becomes ``SERVICE_UNAVAILABLE`` (and HTTP 503); any
    other unexpected error is masked as ``INTERNAL_SERVER_ERROR`` (logged with the
    request id by :meth:`HubSchema.process_errors`); graphql-core's own request errors
    (variables that don't coerce) are ``BAD_USER_INPUT``.

    Without MaskErrors' ``isinstance`` check against a runtime Protocol, which costs
    more than everything else it does: it runs for every subscription event of every
    subscriber."""

    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        out: list[GraphQLError] = []
        unavailable = False
        for error in errors:
            if database_unavailable(error.original_error):
                unavailable = True
                error = GraphQLError(
                    UNAVAILABLE_MESSAGE,
                    nodes=error.nodes,
                    path=error.path,
                    extensions={"code": "SERVICE_UNAVAILABLE"},
                )
            elif self.should_mask_error(error):
                error = self.anonymise_error(error)
                error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
            elif not error.extensions or "code" not in error.extensions:
                set_code(error, "INTERNAL_SERVER_ERROR" if error.path else "BAD_USER_INPUT")
            out.append(error)
        if unavailable:
            refuse_http(self.execution_context.context, 503, 2)
        return out


class _NoHooks:
    """An async context manager that does nothing (no extension hooks a stream result)."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> bool:
        return False


_NO_HOOKS = _NoHooks()


class _StreamHooks:
    """Runs the sync generator ``on_stream_result`` hooks around one streamed result."""

    __slots__ = ("_running", "hooks", "result")

    def __init__(self, hooks: list[SchemaExtension], result: Any) -> None:
        self.hooks = hooks
        self.result = result
        self._running: list[Any] = []

    async def __aenter__(self) -> None:
        for ext in self.hooks:
            gen = type(ext).on_stream_result(ext, self.result)
            next(gen)
            self._running.append(gen)

    async def __aexit__(self, *exc: object) -> bool:
        for gen in reversed(self._running):
            with contextlib.suppress(StopIteration):
                next(gen)
        return False


class _ExtensionsRunner(SchemaExtensionsRunner):
    """strawberry's runner, with the per-result work of a stream (every subscription
    event of every subscriber) cut to the extensions that take part in it: the stream
    hooks of those that define one, and the results of those that report any. The
    others' base-class hooks do nothing, so the outcome is the same."""

    def __init__(self, execution_context: Any, extensions: list[SchemaExtension] | None = None):
        super().__init__(execution_context, extensions)
        base = SchemaExtension
        self._reporting = [
            e for e in self.extensions if type(e).get_results is not base.get_results
        ]
        hooked = [
            e for e in self.extensions if type(e).on_stream_result is not base.on_stream_result
        ]
        self._stream_hooks = (
            hooked
            if all(inspect.isgeneratorfunction(type(e).on_stream_result) for e in hooked)
            else None
        )

    def on_stream_result(self, result: Any) -> Any:
        if self._stream_hooks is None:
            return super().on_stream_result(result)
        if not self._stream_hooks:
            return _NO_HOOKS
        return _StreamHooks(self._stream_hooks, result)

    async def get_extensions_results(self, ctx: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for extension in self._reporting:
            got = extension.get_results()
            if inspect.isawaitable(got):
                got = await got
            data.update(got)
        data.update(ctx.extensions_results)
        return data


class HubSchema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: Any, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return _ExtensionsRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        rid = "-"
        ctx = getattr(execution_context, "context", None)
        if ctx is not None:
            rid = getattr(ctx, "request_id", "-")
        for err in errors:
            orig = err.original_error
            if isinstance(orig, _REQUEST_ERRORS):
                set_code(err, "BAD_REQUEST")
                log.debug("request %s: %s", rid, err.message)
            elif database_unavailable(orig):
                log.warning("request %s: database unavailable at %s: %s", rid, err.path, orig)
            elif orig is not None and not isinstance(orig, GraphQLError):
                log.error("request %s: unhandled error at %s", rid, err.path, exc_info=orig)
            else:
                log.debug("request %s: %s", rid, err.message)


MAX_ALIASES = 50
MAX_TOKENS = 10_000


def build_schema(
    settings: Settings, plugins: Sequence[Any] = (), *, limiter: Limiter | None = None
) -> strawberry.Schema:
    """The schema with its limits: documents cached within HUB_DOCUMENT_CACHE_BYTES, depth,
    aliases and tokens checked before validation, cost priced and taken from the client's
    budget on ``limiter`` (none without one), introspection as HUB_INTROSPECTION says."""
    store = DocumentStore(
        max_bytes=settings.document_cache_bytes,
        max_tokens=MAX_TOKENS,
        max_depth=settings.max_query_depth,
        max_aliases=MAX_ALIASES,
    )
    budget = Budget(limiter, settings.cost_bucket_size, settings.cost_restore_rate)
    extensions: list[Any] = [
        partial(DocumentCache, store=store),
        partial(
            QueryCost,
            max_cost=settings.max_query_cost,
            max_page=settings.max_page_size,
            budget=budget,
        ),
        partial(
            _MaskErrors,
            should_mask_error=_should_mask,
            error_message="Internal error; quote the X-Request-Id response header to support",
        ),
    ]
    if not settings.introspection:
        # Rules fixed once: the document cache keeps a validation result per rule set.
        extensions.insert(0, partial(AddValidationRules, [NoIntrospection]))
    schema = HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        # HubExecutionContext, plus one shared execution per subscription event.
        execution_context_class=SubscriptionExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
    )
    schema.documents = store  # type: ignore[attr-defined]
    gql = schema._schema
    gql.directives = (*gql.directives, IN_CONTEXT)
    # Every argument checked before its resolver runs (text, decimals, times, JSON).
    install_input_guard(gql)
    attrs = _plain_attribute_resolvers(gql, schema.config.name_converter)
    mark_fast_fields(gql, attrs)
    return schema


def _plain_attribute_resolvers(gql: GraphQLSchema, names: Any) -> dict[int, str]:
    """Resolve plain fields with one getattr instead of strawberry's wrapper chain.

    Strawberry resolves a field without a resolver through two Python calls that end in
    ``getattr(source, python_name)``; a page of products resolves ~1,600 such fields, so
    the shorter path saves about a millisecond per listing. Semantics are unchanged.
    Returns {id(field): attribute} for the fields it rewired.
    """
    attrs: dict[int, str] = {}
    for gtype in gql.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        definition = gtype.extensions.get("strawberry-definition")
        if definition is None:
            continue
        by_name = {names.get_graphql_name(f): f for f in definition.fields}
        for name, field in gtype.fields.items():
            if not getattr(field.resolve, "_is_default", False):
                continue
            sfield = by_name.get(name)
            if (
                sfield is None
                or sfield.base_resolver is not None
                or sfield.extensions
                or sfield.permission_classes
            ):
                continue
            field.resolve = _getter(sfield.python_name)
            attrs[id(field)] = sfield.python_name
    return attrs


def _getter(attr: str) -> Any:
    def resolve(source: Any, _info: Any) -> Any:
        return getattr(source, attr)

    resolve._is_default = True  # type: ignore[attr-defined]
    return resolve
