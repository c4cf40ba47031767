"""Operation directives: ``@inContext(channel:, country:, language:)``.

Added to the built graphql-core schema (see :func:`schema.build_schema`) rather than
declared through strawberry, whose directive support wraps every field resolver in an
async middleware. It is read from the operation by
:meth:`schema.context.HubContext.channel`.
"""

from __future__ import annotations

from graphql import DirectiveLocation, GraphQLArgument, GraphQLDirective, GraphQLString

IN_CONTEXT = GraphQLDirective(
    name="inContext",
    locations=[DirectiveLocation.QUERY, DirectiveLocation.MUTATION, DirectiveLocation.SUBSCRIPTION],
    args={
        "channel": GraphQLArgument(GraphQLString, description="A channel handle, e.g. `web`."),
        "country": GraphQLArgument(GraphQLString, description="ISO 3166-1 alpha-2 country."),
        "language": GraphQLArgument(GraphQLString, description="BCP 47 language tag."),
    },
    description="Sets the sales channel (currency, prices), country and language of an "
    "operation. The `X-Hub-Channel` header does the same for a whole client.",
)
