"""The catalog's error codes (channels, products, variants, prices, price lists,
collections and bundles): the common codes, :class:`hub.domain.errors.Code`; the
catalog has none of its own."""

from __future__ import annotations

from hub.domain.errors import Code

CatalogCode = Code
