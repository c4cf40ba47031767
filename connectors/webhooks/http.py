"""POSTing webhooks with httpx, only where the address policy allows (SSRF guard).

A URL must be http or https with a host. Its host is resolved and *every* address it
resolves to must be public: loopback, private, link-local (the cloud metadata
service at 169.254.169.254), shared, reserved, multicast and unspecified addresses
are refused (IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry),
unless the policy allows private targets (``HUB_WEBHOOK_ALLOW_PRIVATE``) or the host
is exempt (``HUB_WEBHOOK_ALLOWED_HOSTS``). With an allow-list
(``HUB_WEBHOOK_HOSTS``) only the hosts listed may be called at all.

The check runs when a subscription is saved and again before every attempt, and the
request then connects to the very address that was checked (the URL's host replaced
by it, the ``Host`` header and the TLS server name kept as the host name), so a name
that resolves elsewhere between the check and the connection (DNS rebinding) can't
reach the hub's own network. Redirects are not followed (a 3xx is a failure).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence

import httpx

from connectors.base import WebhookRequest, WebhookResponse

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """A URL the policy refuses: ``code`` is INVALID, UNRESOLVABLE or REFUSED."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class AddressPolicy:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        exempt_hosts: frozenset[str] = frozenset(),
        only_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.allow_private = allow_private
        self.exempt_hosts = exempt_hosts
        self.only_hosts = only_hosts

    def parse(self, url: str) -> httpx.URL:
        """The URL, if its shape and host name are allowed (no resolution yet)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise Refused("INVALID", f"not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise Refused("INVALID", "the URL must start with http:// or https://")
        host = parsed.host.lower().rstrip(".")
        if not host:
            raise Refused("INVALID", "the URL has no host")
        if self.only_hosts and host not in self.only_hosts:
            raise Refused("REFUSED", f"{host} is not one of the hosts webhooks may call")
        return parsed

    async def addresses(self, url: httpx.URL) -> list[IPAddress]:
        """The host's addresses, all of them allowed (else :class:`Refused`)."""
        host = url.host.lower().rstrip(".")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            found: Sequence[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            found = await _resolve(host, port)
        if not found:
            raise Refused("UNRESOLVABLE", f"{host} has no address")
        if self.allow_private or host in self.exempt_hosts:
            return list(found)
        for ip in found:
            if not _public(ip):
                raise Refused(
                    "REFUSED",
                    f"{host} resolves to {ip}, a private, loopback, link-local or reserved "
                    "address; webhooks only go to public addresses",
                )
        return list(found)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=10
        )
    except (OSError, TimeoutError) as exc:
        raise Refused("UNRESOLVABLE", f"cannot resolve {host}: {exc}") from None
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


class HttpWebhookTarget:
    """The :class:`connectors.base.WebhookTarget` of the hub: httpx, one pooled client."""

    def __init__(self, policy: AddressPolicy, *, max_connections: int = 100) -> None:
        self.policy = policy
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: we connect where we checked
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        )

    async def refusal(self, url: str) -> tuple[str, str] | None:
        try:
            await self.policy.addresses(self.policy.parse(url))
        except Refused as exc:
            return exc.code, exc.message
        return None

    async def send(self, request: WebhookRequest, within: float) -> WebhookResponse:
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            url = self.policy.parse(request.url)
            ip = (await self.policy.addresses(url))[0]
        except Refused as exc:
            return WebhookResponse(None, took(), f"refused: {exc.message}")
        headers = {**request.headers, "Host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        pinned = url.copy_with(host=str(ip))
        try:
            async with asyncio.timeout(within):
                req = self._client.build_request(
                    "POST",
                    pinned,
                    content=request.body,
                    headers=headers,
                    timeout=within,
                    extensions=extensions,
                )
                response = await self._client.send(req, stream=True)
                await response.aclose()  # the status is the answer; the body is not read
        except TimeoutError:
            return WebhookResponse(None, took(), f"timed out after {within:g}s")
        except httpx.TimeoutException:
            return WebhookResponse(None, took(), f"timed out after {within:g}s")
        except httpx.HTTPError as exc:
            return WebhookResponse(None, took(), f"{type(exc).__name__}: {exc}"[:500])
        code = response.status_code
        error = None if 200 <= code < 300 else f"HTTP {code}"
        return WebhookResponse(code, took(), error)

    async def aclose(self) -> None:
        await self._client.aclose()
