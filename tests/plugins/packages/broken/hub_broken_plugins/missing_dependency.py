"""Fails to import: it needs a package that is not installed."""

import hub_no_such_dependency  # noqa: F401

from plugins import Plugin

plugin = Plugin("broken_import")
