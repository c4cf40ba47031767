"""Messages for customers leave the hub here (the :class:`hub.emails.Mailer` port): a
webhook that hands each message, as JSON, to the deployment's e-mail service
(``HUB_EMAIL_WEBHOOK_URL``); without one they stay in the process's memory
(:class:`hub.emails.MemoryMailer`)."""

from connectors.email.webhook import WebhookMailer

__all__ = ["WebhookMailer"]
