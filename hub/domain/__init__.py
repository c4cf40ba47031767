"""The domain: the hub's business rules, one package per aggregate.

``catalog`` (channels, products, variants, prices, collections, bundles),
``promotions`` (the engine, its store, its admin), ``inventory`` (levels and their
ledger, reservations, locations, lots and serials), ``shipping`` (zones, rates,
pickup), ``checkout``, ``carts`` (cart operations and pricing), ``orders``,
``giftcards`` and ``customers``; ``errors`` holds what they share (``DomainError``,
``UserError``, the common ``Code`` enum).

Rules (docs/architecture.md; tests/test_imports.py enforces the imports): a domain
operation takes the open connection of the unit of work it runs in, and a thin
service opens and commits it; the domain imports no ``schema`` and, of
``connectors``, only the ports (``connectors.base``); failures are ``DomainError``s
whose codes are members of the domain's ``StrEnum``.
"""
