"""Integrations: the hub side of connectors (issue 12)."""
