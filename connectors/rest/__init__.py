"""The generic REST connector (type ``rest``): a declarative JSON mapping over any
REST API, for an ERP or a CRM. See ``docs/rest-connector.md``."""

from connectors.rest.client import RestClient, RestError
from connectors.rest.config import RestConfig
from connectors.rest.connector import RestConnector, RestSyncFailed, own_source

__all__ = ["RestClient", "RestConfig", "RestConnector", "RestError", "RestSyncFailed", "own_source"]
