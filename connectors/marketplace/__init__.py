"""The marketplace connector (type ``marketplace``) for the generic marketplace API
of ``docs/marketplace-api.md``, its HTTP client and the stand-in marketplace the tests
and the demo use."""

from connectors.marketplace.client import MarketplaceClient, MarketplaceError
from connectors.marketplace.connector import MarketplaceConfig, MarketplaceConnector

__all__ = ["MarketplaceClient", "MarketplaceConfig", "MarketplaceConnector", "MarketplaceError"]
