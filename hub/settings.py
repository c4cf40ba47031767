"""Settings, read once from ``HUB_``-prefixed environment variables.

A bad value stops start-up with one clear line (see :func:`load_settings`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./hub.db"


class SettingsError(Exception):
    """Raised with a one-line, human readable explanation of a bad setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", frozen=True)

    # "production" refuses what only belongs in a demo or a test (test payments).
    env: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    # Namespace for the hub's Redis channels and job queue (several hubs, one Redis).
    redis_prefix: str = Field(default="hub", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # How long a process trusts an API key it has seen without asking the database
    # again; a revoked key stops working on other processes within this time (0: ask
    # on every request).
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    db_echo: bool = False

    # Query limits. Page size is capped like the hosted commerce APIs (250).
    max_page_size: int = Field(default=250, ge=1, le=1000)
    max_query_depth: int = Field(default=12, ge=2, le=50)
    max_query_cost: int = Field(default=20000, ge=10)
    graphiql: bool = True
    # How often expired reservations are released (in-process, or by `hub worker`).
    reservation_sweep_seconds: float = Field(default=5.0, gt=0)
    # A running checkout attempt's lease, renewed every third of it: when its process
    # dies, its reservations are released and a retry takes over this soon after.
    checkout_lease_seconds: float = Field(default=15.0, ge=1, le=300)
    # How often payments of checkouts that died before writing their order are given
    # back (in `hub serve` on the embedded default, by `hub worker` with Redis).
    payment_reconcile_seconds: float = Field(default=10.0, gt=0, le=3600)
    reservation_ttl_seconds: int = Field(default=900, ge=10)
    # Carts expire after this long without a change.
    cart_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    # Abandoned carts are deleted this long after they expired, checked this often.
    cart_retention_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    cart_sweep_seconds: float = Field(default=3600.0, gt=0)
    # Payments: Stripe when a secret key is set (api_base points elsewhere, for tests).
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # How far a Stripe webhook's signature timestamp may be from now, either way.
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # The "test" payment provider (Stripe's test PaymentMethods, no money moves); also
    # turned on by `hub serve --demo`. Refused with HUB_ENV=production.
    test_payments: bool = False
    # Tests only: a checkout waits between its payment and its order while this file
    # exists (so a test can kill the process there). Refused with HUB_ENV=production.
    test_checkout_pause_file: str | None = None
    # Tax: the built-in rules engine, or an external tax service (falling back to it).
    tax_service_url: str | None = None
    tax_service_api_key: str | None = None
    # Browsers' origins allowed to call the API (tokens, not cookies, carry identity).
    cors_origins: tuple[str, ...] = ("*",)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("env", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("test_payments")
    @classmethod
    def _no_test_payments_in_production(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("env") == "production":
            raise ValueError("test payments can't be enabled when HUB_ENV=production")
        return v

    @field_validator("test_checkout_pause_file")
    @classmethod
    def _no_pause_in_production(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v and info.data.get("env") == "production":
            raise ValueError("a test-only setting, refused when HUB_ENV=production")
        return v or None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {v.split(':', 1)[0]!r})"
            )
        if v.startswith("postgresql://"):
            v = "postgresql+asyncpg://" + v[len("postgresql://") :]
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read settings; turn a validation failure into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = "HUB_" + "_".join(str(p) for p in err["loc"]).upper()
            parts.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid setting " + "; ".join(parts)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
