"""The strawberry and graphql-core internals the hub relies on (schema/engine/,
schema/fanout.py, hub/websockets.py), checked one by one, so that an upgrade that
changes one fails here naming it rather than somewhere deep in a request.

Each check names the internal and where the hub uses it. When one fails: read the
library's change for that name, adapt the module named, then this list.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest
from graphql import GraphQLEnumType

from hub.settings import load_settings
from schema import build_schema

# (module, attribute path, used by)
NAMES: list[tuple[str, str, str]] = [
    (
        "strawberry.schema.schema",
        "StrawberryGraphQLCoreExecutionContext",
        "schema.engine.execution",
    ),
    ("strawberry.schema.schema", "validate_document", "schema.documents"),
    ("strawberry.schema.schema_converter", "CustomGraphQLEnumType", "schema.engine.plan"),
    ("strawberry.extensions", "MaskErrors", "schema.engine.masking"),
    ("strawberry.extensions.runner", "SchemaExtensionsRunner", "schema.engine.extensions"),
    ("strawberry.schema.exceptions", "InvalidOperationTypeError", "schema.engine.masking"),
    ("strawberry.schema.exceptions", "CannotGetOperationTypeError", "schema.engine.masking"),
    ("strawberry.types.execution", "PreExecutionError", "schema.fanout"),
    ("strawberry.asgi", "ASGIWebSocketAdapter", "hub.websockets"),
    (
        "strawberry.subscriptions.protocols.graphql_transport_ws.handlers",
        "BaseGraphQLTransportWSHandler",
        "hub.websockets",
    ),
    (
        "strawberry.subscriptions.protocols.graphql_ws.handlers",
        "BaseGraphQLWSHandler",
        "hub.websockets",
    ),
    ("graphql.execution.executor", "CollectedErrors", "schema.engine.subscriptions"),
    ("graphql.execution.executor", "invalid_return_type_error", "schema.engine.run"),
    ("graphql.execution.collect_fields", "collect_fields", "schema.engine.cache"),
    ("graphql.execution.collect_fields", "collect_subfields", "schema.engine.plan"),
    ("graphql.execution.collect_fields", "FieldDetails", "schema.engine.run"),
    ("graphql.execution.values", "get_argument_values", "schema.engine.plan"),
    ("graphql.pyutils", "gather_with_cancel", "schema.engine.run"),
    ("graphql.pyutils", "is_iterable", "schema.engine.run"),
    ("graphql.pyutils", "Undefined", "schema.engine.run"),
]

# Methods and attributes of graphql-core's ExecutionContext the engine calls or reads
# (schema.engine.cache, .run, .subscriptions): (name, a method?).
EXECUTOR: list[tuple[str, bool]] = [
    ("execute_operation", True),
    ("build_per_event_executor", True),
    ("build_response", True),
    ("build_resolve_info", True),
    ("ensure_valid_runtime_type", True),
    ("settle_in_background", True),
    ("is_awaitable", False),
    ("is_async_iterable", False),
]
EXECUTOR_STATE = [
    "schema",
    "fragments",
    "fragment_definitions",
    "root_value",
    "context_value",
    "operation",
    "variable_values",
    "field_resolver",
    "type_resolver",
    "middleware_manager",
    "collected_errors",
    "error_propagation",
    "hide_suggestions",
    "abort_signal",
]


@pytest.mark.parametrize(("module", "name", "user"), NAMES, ids=[f"{m}.{n}" for m, n, _ in NAMES])
def test_the_names_the_hub_imports_exist(module: str, name: str, user: str) -> None:
    mod = importlib.import_module(module)
    assert hasattr(mod, name), f"{module}.{name} is gone (used by {user})"


def test_the_executor_has_what_the_engine_calls() -> None:
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext as Executor

    for name, method in EXECUTOR:
        got = getattr(Executor, name, None)
        assert got is not None, f"ExecutionContext.{name} is gone (schema.engine uses it)"
        if method:
            assert callable(got), f"ExecutionContext.{name} is no longer a method"
    params = inspect.signature(Executor.execute_operation).parameters
    assert list(params)[:2] == ["self", "serially"], (
        f"ExecutionContext.execute_operation{inspect.signature(Executor.execute_operation)}: "
        "schema.engine.execution overrides it as (self, serially=None)"
    )
    params = inspect.signature(Executor.build_per_event_executor).parameters
    assert list(params) == ["self", "payload"], (
        "ExecutionContext.build_per_event_executor's signature changed "
        "(schema.engine.subscriptions overrides it as (self, payload))"
    )
    from graphql.execution.executor import Executor as CoreExecutor

    assert issubclass(Executor, CoreExecutor), (
        "strawberry's executor no longer derives from graphql.execution.executor.Executor"
    )
    state = inspect.signature(CoreExecutor.__init__).parameters
    for name in ("schema", "fragments", "root_value", "context_value", "operation"):
        assert name in state, f"graphql-core's Executor takes no {name} any more"


async def test_an_executor_carries_the_state_the_engine_reads() -> None:
    seen: dict[str, Any] = {}
    schema = build_schema(load_settings())
    gql = schema._schema  # strawberry's GraphQLSchema (schema.__init__, tests use it)
    from schema.engine import SubscriptionExecutionContext

    original = SubscriptionExecutionContext.execute_operation

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        for name in EXECUTOR_STATE:
            seen[name] = hasattr(self, name)
        seen["coerced"] = hasattr(self.variable_values, "coerced")
        raise RuntimeError("enough")

    SubscriptionExecutionContext.execute_operation = spy  # type: ignore[method-assign]
    try:
        await schema.execute("{ __typename }")
    finally:
        SubscriptionExecutionContext.execute_operation = original  # type: ignore[method-assign]
    missing = [name for name, ok in seen.items() if not ok]
    assert seen, "the executor class is no longer the hub's (execution_context_class)"
    assert not missing, f"ExecutionContext no longer carries {missing} (schema.engine reads them)"
    assert gql is not None


def test_strawberry_hooks_the_engine_overrides() -> None:
    from strawberry.extensions import MaskErrors, SchemaExtension
    from strawberry.extensions.runner import SchemaExtensionsRunner
    from strawberry.schema import Schema

    for cls, name in (
        (MaskErrors, "_process_result"),
        (MaskErrors, "anonymise_error"),
        (SchemaExtensionsRunner, "on_stream_result"),
        (SchemaExtensionsRunner, "get_extensions_results"),
        (SchemaExtension, "on_stream_result"),
        (SchemaExtension, "get_results"),
        (Schema, "create_extensions_runner"),
        (Schema, "process_errors"),
    ):
        assert hasattr(cls, name), f"{cls.__module__}.{cls.__name__}.{name} is gone"
    mask = inspect.signature(MaskErrors.__init__).parameters
    for name in ("should_mask_error", "error_message"):
        assert name in mask, f"MaskErrors({name}=) is gone (schema.__init__ passes it)"
    assert list(inspect.signature(SchemaExtensionsRunner.__init__).parameters)[:3] == [
        "self",
        "execution_context",
        "extensions",
    ], "SchemaExtensionsRunner(execution_context, extensions) changed (schema.engine.extensions)"
    assert inspect.isgeneratorfunction(SchemaExtension.on_stream_result) or callable(
        SchemaExtension.on_stream_result
    )


def test_the_schema_objects_the_engine_reads() -> None:
    schema = build_schema(load_settings())
    gql = schema._schema
    product = gql.type_map["Product"]
    definition = product.extensions.get("strawberry-definition")
    assert definition is not None, "GraphQL types no longer carry 'strawberry-definition'"
    field = definition.fields[0]
    for name in ("base_resolver", "extensions", "permission_classes", "python_name"):
        assert hasattr(field, name), f"StrawberryField.{name} is gone (schema.engine.execution)"
    assert hasattr(schema.config.name_converter, "get_graphql_name")
    enum = gql.type_map["UserErrorCode"]
    assert isinstance(enum, GraphQLEnumType)
    assert getattr(enum, "wrapped_cls", None) is not None, (
        "strawberry's enum types no longer carry wrapped_cls (schema.engine.plan)"
    )


def test_what_direct_resolver_calls_rely_on() -> None:
    """schema.engine.direct calls resolver functions itself: strawberry's resolver
    closures (recognised by name), StrawberryResolver's parameters, the converter's
    exception handlers and Info's fields; schema.engine.extensions makes the hooks'
    context managers with contextlib's classes."""
    import contextlib
    import dataclasses

    from strawberry.extensions.context import (
        ExecutingContextManager,
        ExtensionContextManagerBase,
        WrappedHook,
    )
    from strawberry.types import Info

    from schema.engine.direct import direct_of

    schema = build_schema(load_settings())
    gql = schema._schema
    assert hasattr(schema.schema_converter, "_exception_handler_specs")
    assert {f.name for f in dataclasses.fields(Info)} >= {"_raw_info", "_field"}
    field = gql.type_map["Product"].fields["variants"]
    direct = direct_of(field)
    assert direct is not None, (
        "Product.variants is no longer called directly: strawberry's resolver closure "
        "(from_resolver.<locals>._resolver) or StrawberryField changed (schema.engine.direct)"
    )
    resolver = direct.field.base_resolver
    for name in ("self_parameter", "root_parameter", "parent_parameter", "info_parameter"):
        assert hasattr(resolver, name), f"StrawberryResolver.{name} is gone"
    assert callable(resolver.wrapped_func)
    assert WrappedHook._fields == ("extension", "hook", "is_async")
    assert hasattr(ExtensionContextManagerBase, "get_hook")
    assert ExecutingContextManager.HOOK_NAME == "on_execute"
    for cls in ("_GeneratorContextManager", "_AsyncGeneratorContextManager"):
        assert hasattr(contextlib, cls), f"contextlib.{cls} is gone (schema.engine.extensions)"
