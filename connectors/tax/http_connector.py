"""The HTTP tax service as a connector type, ``http_tax`` (kind ``tax``).

An instance configures the :class:`HttpTaxEngine` the hub prices carts and checkouts
with (``url``, the write-only ``api_key``, ``timeout`` per attempt, ``retries``); the
built-in rules stay its fallback. While an ``http_tax`` instance is enabled it wins
over ``HUB_TAX_SERVICE_URL`` (which keeps working for installations that set it).

Its calls are observable as runs, aggregated: every ``report_seconds`` each process
that made tax calls records one run (trigger ``SCHEDULE``) with ``itemsWritten`` the
tax results it answered, ``itemsRead`` the service answers among them, and an item
error per call that fell back to the rules (code ``FALLBACK``) or failed
(``UNAVAILABLE``). One run per call would write a row per cart change on the checkout
path; the aggregate costs one row per interval and process, off that path.

A manual run (``connectorRunNow``) probes the service: one small basket through the
wire format, without the fallback; the run fails when the service does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import ConnectorKind, Event, RunContext, TaxLine, TaxRequest, TaxUnavailable
from connectors.tax.http import HttpTaxEngine


class HttpTaxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="The service's base URL.")
    api_key: str | None = Field(default=None, max_length=4096, description="Bearer token.")
    timeout: float = Field(default=2.0, gt=0, le=30, description="Seconds per attempt.")
    retries: int = Field(default=2, ge=0, le=5)
    report_seconds: float = Field(default=60.0, ge=0.2, le=3600)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")) or len(v) < 10:
            raise ValueError("an http:// or https:// URL")
        return v.rstrip("/")


PROBE = TaxRequest(
    currency="USD",
    country="US",
    region="NY",
    postal_code=None,
    prices_include_tax=False,
    lines=(TaxLine("probe", 1000, 1),),
    shipping=0,
    customer_vat_id=None,
)


def engine_of(config: HttpTaxConfig, **kw: object) -> HttpTaxEngine:
    return HttpTaxEngine(
        config.url,
        config.api_key,
        timeout=config.timeout,
        retries=config.retries,
        **kw,  # type: ignore[arg-type]  # fallback, observe, cache settings
    )


class HttpTaxConnector:
    type_name: str = "http_tax"
    kind: ConnectorKind = "tax"
    config_schema: type[Any] = HttpTaxConfig
    secret_fields: frozenset[str] = frozenset({"api_key"})
    topics: tuple[str, ...] = ()

    async def sync(self, ctx: RunContext) -> None:
        config = HttpTaxConfig.model_validate(dict(ctx.config))
        async with engine_of(config, cache_size=0) as engine:
            try:
                await engine.calculate(PROBE)
            except TaxUnavailable as exc:
                ctx.read(0)
                raise RuntimeError(f"the tax service did not answer the probe: {exc}") from None
        ctx.read()
        ctx.written()

    async def handle(self, ctx: RunContext, events: Sequence[Event]) -> None:  # no topics
        return None
