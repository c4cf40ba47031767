"""Error masking: what of an error leaves the server.

Every error leaves with an ``extensions.code``: an error of the hub's own (an
:class:`schema.errors.ApiError`, a permission refusal, a validation error) keeps its
message; a database outage becomes ``SERVICE_UNAVAILABLE`` (and HTTP 503); any other
unexpected error is masked as ``INTERNAL_SERVER_ERROR`` and logged with the request id.
Relies on strawberry's ``MaskErrors`` extension (its ``_process_result`` hook and
``should_mask_error``/``anonymise_error``) and on the ``process_errors`` hook of
``strawberry.Schema``: ``tests/schema/test_strawberry_internals.py`` pins them.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from hub.db.outage import database_unavailable
from schema.documents import set_code
from schema.errors import ApiCode
from schema.limits import refuse_http

log = logging.getLogger("hub.graphql")

MASKED_MESSAGE = "Internal error; quote the X-Request-Id response header to support"

# strawberry's refusals of an operation's type or name: the client's doing, not a bug.
_REQUEST_ERRORS = (InvalidOperationTypeError, CannotGetOperationTypeError)


def should_mask(error: GraphQLError) -> bool:
    orig = error.original_error
    if orig is None or isinstance(orig, (GraphQLError, *_REQUEST_ERRORS)):
        # Validation errors, ApiError and permission errors are for the client.
        return False
    return True


UNAVAILABLE_MESSAGE = "the database is unavailable; retry in a moment"


class HubMaskErrors(MaskErrors):
    """Every error leaves with an ``extensions.code``: an error of our own code keeps
    its message; a database outage becomes ``SERVICE_UNAVAILABLE`` (and HTTP 503); any
    other unexpected error is masked as ``INTERNAL_SERVER_ERROR`` (logged with the
    request id by :func:`log_errors`); graphql-core's own request errors
    (variables that don't coerce) are ``BAD_USER_INPUT``.

    Without MaskErrors' ``isinstance`` check against a runtime Protocol, which costs
    more than everything else it does: it runs for every subscription event of every
    subscriber."""

    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            # attr-defined: every result strawberry hands here has errors (checked above).
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
                    extensions={"code": str(ApiCode.SERVICE_UNAVAILABLE)},
                )
            elif self.should_mask_error(error):
                error = self.anonymise_error(error)
                error.extensions = {"code": str(ApiCode.INTERNAL_SERVER_ERROR)}
            elif not error.extensions or "code" not in error.extensions:
                set_code(
                    error,
                    ApiCode.INTERNAL_SERVER_ERROR if error.path else ApiCode.BAD_USER_INPUT,
                )
            out.append(error)
        if unavailable:
            refuse_http(self.execution_context.context, 503, 2)
        return out


def log_errors(errors: list[GraphQLError], execution_context: Any = None) -> None:
    """Log the errors of an execution with its request id; mark strawberry's
    refusals of an operation's type or name ``BAD_REQUEST``."""
    rid = "-"
    ctx = getattr(execution_context, "context", None)
    if ctx is not None:
        rid = getattr(ctx, "request_id", "-")
    for err in errors:
        orig = err.original_error
        if isinstance(orig, _REQUEST_ERRORS):
            set_code(err, ApiCode.BAD_REQUEST)
            log.debug("request %s: %s", rid, err.message)
        elif database_unavailable(orig):
            log.warning("request %s: database unavailable at %s: %s", rid, err.path, orig)
        elif orig is not None and not isinstance(orig, GraphQLError):
            log.error("request %s: unhandled error at %s", rid, err.path, exc_info=orig)
        else:
            log.debug("request %s: %s", rid, err.message)
