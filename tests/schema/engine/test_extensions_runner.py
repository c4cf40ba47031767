"""The schema's extensions runner: the per-result work of a stream (every subscription
event of every subscriber) must give what strawberry's own runner gives."""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from schema.engine import ExtensionsRunner as _ExtensionsRunner
from schema.engine import HubMaskErrors as _MaskErrors
from schema.engine import should_mask as _should_mask
from schema.errors import ApiError


class _Reports(SchemaExtension):
    def get_results(self) -> dict[str, Any]:
        return {"cost": {"requestedQueryCost": 4}}


class _Silent(SchemaExtension):
    pass


class _Ctx:
    extensions_results: dict[str, Any] = {"extra": 1}


def _result() -> ExecutionResult:
    boom = GraphQLError("secret detail", original_error=RuntimeError("secret detail"))
    told = GraphQLError("told", original_error=ApiError("told", "ACCESS_DENIED"))
    return ExecutionResult(data={"x": 1}, errors=[boom, told])


def _extensions() -> list[SchemaExtension]:
    mask = _MaskErrors(should_mask_error=_should_mask, error_message="Internal error")
    return [_Silent(), mask, _Reports()]


async def _run(runner_cls: type[SchemaExtensionsRunner]) -> tuple[list[str], dict[str, Any]]:
    runner = runner_cls(execution_context=_Ctx(), extensions=_extensions())  # type: ignore[arg-type]
    result = _result()
    async with runner.on_stream_result(result):
        pass
    return [e.message for e in result.errors or []], await runner.get_extensions_results(_Ctx())  # type: ignore[arg-type]


async def test_stream_results_are_masked_and_reported_as_strawberry_does() -> None:
    ours = await _run(_ExtensionsRunner)
    theirs = await _run(SchemaExtensionsRunner)
    assert ours == theirs
    assert ours[0] == ["Internal error", "told"]
    assert ours[1] == {"cost": {"requestedQueryCost": 4}, "extra": 1}


async def test_no_stream_hooks_means_nothing_to_run() -> None:
    runner = _ExtensionsRunner(execution_context=_Ctx(), extensions=[_Silent(), _Reports()])  # type: ignore[arg-type]
    result = _result()
    async with runner.on_stream_result(result):
        pass
    assert [e.message for e in result.errors or []] == ["secret detail", "told"]
