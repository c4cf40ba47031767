"""Connector instances, their runs and the hub side of their syncs."""
