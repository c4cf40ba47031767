"""Outgoing webhooks leave the hub here: :class:`HttpWebhookTarget` (the
:class:`connectors.base.WebhookTarget` port) with its SSRF guard, :class:`AddressPolicy`."""

from connectors.webhooks.http import AddressPolicy, HttpWebhookTarget, Refused

__all__ = ["AddressPolicy", "HttpWebhookTarget", "Refused"]
