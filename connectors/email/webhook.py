"""``POST`` each message as JSON ``{"to", "template", "data"}`` to a URL (an e-mail
service's transactional endpoint, or a function of the deployment's that renders and
sends it). With a secret, the body is signed: ``X-Hub-Signature: sha256=<hex HMAC of
the body>``, so the receiver can tell the hub's messages from anyone else's. A message
that can't be delivered raises (the account change it belongs to stands; the customer
may ask again)."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import orjson

from hub.emails import EmailMessage


class WebhookMailer:
    def __init__(self, url: str, secret: str | None = None, *, timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, message: EmailMessage) -> None:
        body = orjson.dumps({"to": message.to, "template": message.template, "data": message.data})
        headers = {"content-type": "application/json"}
        if self.secret:
            mac = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = f"sha256={mac}"
        resp = await self._client.post(self.url, content=body, headers=headers)
        resp.raise_for_status()

    async def aclose(self) -> None:
        await self._client.aclose()
