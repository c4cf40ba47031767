"""The GraphQL engine: everything that touches strawberry's or graphql-core's internals.

- :mod:`schema.engine.cache`, :mod:`~schema.engine.plan`, :mod:`~schema.engine.run`:
  the compiled execution path (an operation planned once, then run; see ``cache``);
- :mod:`schema.engine.direct`: resolvers the compiled path calls without strawberry's
  wrapper chain;
- :mod:`schema.engine.execution`: the executor class (the compiled path, or
  graphql-core's), which fixes each operation's channel before any resolver runs, and
  the plain attribute resolvers;
- :mod:`schema.engine.subscriptions`: one execution of a subscription event per
  process for the subscribers asking the same thing;
- :mod:`schema.engine.masking`: what of an error leaves the server;
- :mod:`schema.engine.extensions`: the schema class and its extensions runner.

The internals they rely on are pinned by ``tests/schema/test_strawberry_internals.py``,
which names the one that changed when a strawberry or graphql-core upgrade breaks one.
The rest of ``schema/`` uses the public names re-exported here.
"""

from schema.engine.cache import PLAN_CACHE_SIZE, PlanCache, RootPlan, execute_plan
from schema.engine.direct import mark_direct
from schema.engine.execution import HubExecutionContext, mark_fast_fields, plain_attribute_resolvers
from schema.engine.extensions import ExtensionsRunner, HubSchema
from schema.engine.masking import MASKED_MESSAGE, UNAVAILABLE_MESSAGE, HubMaskErrors, should_mask
from schema.engine.subscriptions import SharedEvent, SubscriptionExecutionContext

__all__ = [
    "MASKED_MESSAGE",
    "PLAN_CACHE_SIZE",
    "UNAVAILABLE_MESSAGE",
    "ExtensionsRunner",
    "HubExecutionContext",
    "HubMaskErrors",
    "HubSchema",
    "PlanCache",
    "RootPlan",
    "SharedEvent",
    "SubscriptionExecutionContext",
    "execute_plan",
    "mark_direct",
    "mark_fast_fields",
    "plain_attribute_resolvers",
    "should_mask",
]
