"""Plugins that fail to import, to configure, to register or to join the schema."""
