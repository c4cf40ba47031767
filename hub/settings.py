"""Settings, read once from ``HUB_``-prefixed environment variables.

A bad value stops start-up with one clear line (see :func:`load_settings`).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError as SourceError

from hub.ratelimit import Rate

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./hub.db"
# Accepted database URL schemes, and the driver each one runs on.
DATABASE_SCHEMES = {
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)


def _rate(v: object) -> object:
    return Rate.parse(v) if isinstance(v, str) else v


# A rate limit setting: "LIMIT/PERIOD" (20/60s, 100/5m, 1000/1h) or "off".
RateSetting = Annotated[Rate | None, BeforeValidator(_rate)]


class SettingsError(Exception):
    """Raised with a one-line, human readable explanation of a bad setting."""


class Settings(BaseSettings):
    # An empty variable (``HUB_X=``, or a compose file passing an unset one through)
    # means "not set": the default applies.
    model_config = SettingsConfigDict(
        env_prefix="HUB_", extra="ignore", frozen=True, env_ignore_empty=True
    )

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
    # Where `hub graphiql install` puts GraphiQL's scripts, served at /graphiql/ (the
    # page loads them from a CDN until they are there); default: inside the package.
    graphiql_assets_dir: Path | None = None
    # Introspection (__schema, __type); GraphiQL and code generators need it on.
    introspection: bool = True

    # Request bounds: the largest HTTP body or websocket message (413 / close 1009), the
    # longest query text and the largest variables object (as JSON), all refused before
    # parsing; and the memory the parsed-document cache may hold (an estimate).
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    max_query_length: int = Field(default=100_000, ge=1000, le=10_000_000)
    max_variables_bytes: int = Field(default=524_288, ge=1024, le=64 * 1_048_576)
    document_cache_bytes: int = Field(default=64 * 1_048_576, ge=0, le=4096 * 1_048_576)

    # The per-client cost budget (a leaky bucket, client = API key, else address): it
    # holds cost_bucket_size points and refills at cost_restore_rate points a second;
    # 0 turns it off. Shared through Redis when HUB_REDIS_URL is set.
    cost_bucket_size: int = Field(default=200_000, ge=0, le=100_000_000)
    cost_restore_rate: int = Field(default=20_000, ge=1, le=100_000_000)
    # Server-side-rendering storefronts send every shopper's traffic with one key: the
    # keys listed here (API key ids) get one bucket per shopper rather than one in all,
    # the shopper named by the X-Hub-Buyer header (an address or opaque id, at most 64
    # characters) the server sets, else the request's address. Only for private keys
    # (the server's): whoever holds the key can name any shopper.
    cost_per_buyer_keys: Annotated[frozenset[int], NoDecode] = frozenset()
    # Per-key bucket sizes ("12=2000000,15=500000"): a key's own size instead of
    # cost_bucket_size (restored at the same rate per point of size).
    cost_key_bucket_sizes: Annotated[dict[int, int], NoDecode] = Field(default_factory=dict)
    # Persisted queries (Apollo's automatic persisted queries, see README): on, the
    # operations this process keeps in memory (the database keeps them all), and
    # allow-list mode: only registered operations run (callers with the admin scope
    # excepted), clients can't register new ones, `hub persisted-queries load` does.
    persisted_queries: bool = True
    persisted_query_cache_size: int = Field(default=2000, ge=0, le=1_000_000)
    persisted_queries_only: bool = False
    # Cache-Control max-age of an anonymous persisted GET of catalog fields (0: no-store).
    persisted_query_max_age: int = Field(default=60, ge=0, le=31_536_000)
    # Such answers are also kept by each process this long (at most the max-age), so
    # a page many shoppers load at once runs once per interval (0: not kept).
    persisted_query_local_seconds: float = Field(default=1.0, ge=0, le=3600)
    # Guessing limits, per client: failed API key attempts (per address), gift card
    # balance look-ups, discount codes entered on carts.
    rate_limit_auth_failures: RateSetting = Rate(20, 60)
    rate_limit_gift_card_balance: RateSetting = Rate(30, 60)
    rate_limit_discount_codes: RateSetting = Rate(60, 300)
    # Customer accounts (hub.domain.accounts). Sign-in attempts per account (email)
    # and per address; password recovery requests per account and per address; token
    # checks (renew, sign-out, reset, activation, orderByToken, a cart's
    # customerAccessToken) per address, and reset/activation attempts per account.
    rate_limit_sign_in_account: RateSetting = Rate(10, 900)
    rate_limit_sign_in_address: RateSetting = Rate(100, 900)
    rate_limit_recover_account: RateSetting = Rate(3, 3600)
    rate_limit_recover_address: RateSetting = Rate(20, 3600)
    rate_limit_token_checks: RateSetting = Rate(60, 900)
    rate_limit_token_checks_account: RateSetting = Rate(10, 3600)
    # Lifetimes of customer tokens: access (sign-in), password reset, activation and
    # email verification.
    customer_token_seconds: int = Field(default=14 * 24 * 3600, ge=60, le=365 * 24 * 3600)
    # Lifetime of a staff access token (staffAccessTokenCreate): a working day.
    staff_token_seconds: int = Field(default=12 * 3600, ge=60, le=30 * 24 * 3600)
    customer_reset_token_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    customer_activation_token_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=30 * 24 * 3600)
    # Where messages for customers (activation and password reset links) go: POSTed as
    # JSON to this URL (signed with the secret when set); unset, kept in memory.
    email_webhook_url: str | None = None
    email_webhook_secret: str | None = None
    # argon2id parameters for customer passwords (OWASP's: 19 MiB, 2 passes, 1 lane).
    password_hash_time_cost: int = Field(default=2, ge=1, le=10)
    password_hash_memory_kib: int = Field(default=19_456, ge=8_192, le=1_048_576)
    password_hash_parallelism: int = Field(default=1, ge=1, le=16)
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
    # Audit events older than this many days are deleted (with the carts' sweep); 0
    # keeps them forever.
    audit_retention_days: int = Field(default=365, ge=0, le=100 * 365)
    # Every process reads the outbox (the event log) this often for events the bus
    # missed (an outage, a reconnect); the most an event can be late on a process.
    events_poll_seconds: float = Field(default=1.0, ge=0.05, le=60)
    # With Redis: a serve process runs the background jobs itself when it has not
    # seen `hub worker`'s heartbeat for this long.
    worker_grace_seconds: float = Field(default=30.0, ge=2, le=3600)
    # Returns: a return is flagged (never blocked) when the customer returned more than
    # return_fraud_max_items units or more than return_fraud_max_amount (minor units of
    # the order's currency) within return_fraud_window_days, across locations; and when
    # it is received away from where it was bought for at least
    # return_fraud_location_amount (minor units).
    return_fraud_max_items: int = Field(default=10, ge=0)
    return_fraud_max_amount: int = Field(default=100_000, ge=0)
    return_fraud_window_days: int = Field(default=30, ge=1, le=3650)
    return_fraud_location_amount: int = Field(default=20_000, ge=0)
    # Payments: Stripe when a secret key is set (api_base points elsewhere, for tests).
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # How far a Stripe webhook's signature timestamp may be from now, either way.
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # The "test" payment provider (Stripe's test PaymentMethods, no money moves); also
    # turned on by `hub serve --demo`. Refused with HUB_ENV=production.
    test_payments: bool = False
    # `hub serve --demo`: the app also serves a stand-in marketplace (the generic
    # marketplace API, in memory) at /_demo/marketplace for the demo's marketplace
    # connector. Refused with HUB_ENV=production.
    demo_marketplace: bool = False
    # Tests only: a checkout waits between its payment and its order while this file
    # exists (so a test can kill the process there). Refused with HUB_ENV=production.
    test_checkout_pause_file: str | None = None
    # Tax: the built-in rules engine, or an external tax service (falling back to it).
    tax_service_url: str | None = None
    tax_service_api_key: str | None = None
    # Webhooks out (hub.domain.webhooks). Where they may go: http(s) only, never to a
    # loopback, private, link-local, reserved or multicast address unless
    # HUB_WEBHOOK_ALLOW_PRIVATE=true or the host is in HUB_WEBHOOK_ALLOWED_HOSTS
    # (comma-separated host names, exempt from the address check); with
    # HUB_WEBHOOK_HOSTS set, only those hosts at all (allow-list mode).
    webhook_allow_private: bool = False
    webhook_allowed_hosts: Annotated[frozenset[str], NoDecode] = frozenset()
    webhook_hosts: Annotated[frozenset[str], NoDecode] = frozenset()
    # Sending: per-request timeout, attempts before DEAD, exponential backoff with
    # jitter (base doubling per attempt, capped), how often due deliveries are looked
    # for, concurrent sends in all and per subscription, how long a claim lasts.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_seconds: float = Field(default=10.0, gt=0, le=3600)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0, le=7 * 24 * 3600)
    webhook_poll_seconds: float = Field(default=1.0, ge=0.05, le=600)
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    webhook_concurrency_per_subscription: int = Field(default=4, ge=1, le=100)
    webhook_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Connectors (hub.domain.integrations): a YAML file of connector instances applied
    # at start (by name); how often the scheduler looks for due instances and new
    # events; how long a run's lease lasts (renewed every third of it while it runs:
    # when its process dies, another may run the instance this soon after).
    connectors_file: Path | None = None
    connectors_tick_seconds: float = Field(default=0.5, ge=0.05, le=60)
    connectors_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    # posSync: how far (minor units per unit) a till's price may be from the hub's
    # before the sale is flagged for review (it is never re-priced).
    pos_price_tolerance: int = Field(default=0, ge=0, le=1_000_000)
    # Browsers' origins allowed to call the API (tokens, not cookies, carry identity).
    # ``*``, or origins (``https://shop.example.com``) as a comma-separated or JSON list.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ("*",)

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

    @field_validator("demo_marketplace")
    @classmethod
    def _no_demo_marketplace_in_production(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("env") == "production":
            raise ValueError("the demo marketplace can't be served when HUB_ENV=production")
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
        """``postgres://``, ``postgresql://`` and ``sqlite://`` run on the async drivers
        the hub uses (asyncpg, aiosqlite)."""
        v = v.strip()
        scheme, sep, rest = v.partition("://")
        driver = DATABASE_SCHEMES.get(scheme.lower()) if sep else None
        if driver is None:
            raise ValueError(
                "must be sqlite+aiosqlite:///PATH or postgresql://USER@HOST/DB "
                f"(postgres://, postgresql+asyncpg:// and sqlite:/// work too), got {scheme!r}"
            )
        if driver.startswith("sqlite") and rest and not rest.startswith("/"):
            raise ValueError(f"a SQLite URL is sqlite:///PATH (three slashes), got {v!r}")
        return f"{driver}://{rest}"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _cors_origins(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                try:
                    v = json.loads(text)
                except ValueError:
                    raise ValueError(f"not a valid JSON list: {text!r}") from None
            else:
                v = text.split(",")
        if isinstance(v, list | tuple):
            origins = []
            for item in v:
                if not isinstance(item, str):
                    raise ValueError(f"an origin is a string, got {item!r}")
                origin = item.strip().rstrip("/")
                if not origin:
                    continue
                if origin != "*" and not _ORIGIN.match(origin):
                    raise ValueError(
                        "each origin is * or scheme://host[:port] such as "
                        f"https://shop.example.com (no path), got {item.strip()!r}"
                    )
                origins.append(origin)
            if not origins:
                raise ValueError("give * or at least one origin")
            return tuple(origins)
        return v

    @field_validator("cost_per_buyer_keys", mode="before")
    @classmethod
    def _key_ids(cls, v: object) -> object:
        if isinstance(v, str):
            try:
                return frozenset(int(x) for x in v.replace(" ", "").split(",") if x)
            except ValueError:
                raise ValueError(f"API key ids, comma-separated (got {v!r})") from None
        return v

    @field_validator("cost_key_bucket_sizes", mode="before")
    @classmethod
    def _key_sizes(cls, v: object) -> object:
        if isinstance(v, str):
            out: dict[int, int] = {}
            for item in v.replace(" ", "").split(","):
                if not item:
                    continue
                key, sep, size = item.partition("=")
                if not sep or not key.isdigit() or not size.isdigit():
                    raise ValueError(f"KEY_ID=POINTS, comma-separated (got {item!r})")
                out[int(key)] = int(size)
            return out
        return v

    @field_validator("webhook_allowed_hosts", "webhook_hosts", mode="before")
    @classmethod
    def _hosts(cls, v: object) -> object:
        if isinstance(v, str):
            return frozenset(h.strip().lower().rstrip(".") for h in v.split(",") if h.strip())
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @model_validator(mode="after")
    def _bucket_fits_a_query(self) -> Settings:
        if 0 < self.cost_bucket_size < self.max_query_cost:
            raise ValueError(
                f"HUB_COST_BUCKET_SIZE ({self.cost_bucket_size}) must be 0 (off) or at least "
                f"HUB_MAX_QUERY_COST ({self.max_query_cost}), or some queries never run"
            )
        for key, size in self.cost_key_bucket_sizes.items():
            if size < self.max_query_cost or size > 1_000_000_000:
                raise ValueError(
                    f"HUB_COST_KEY_BUCKET_SIZES: key {key}'s {size} must be at least "
                    f"HUB_MAX_QUERY_COST ({self.max_query_cost}) and at most 1,000,000,000"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read settings; turn a validation failure into one line per bad variable."""
    try:
        # arg-type: the overrides are validated by pydantic here, whatever their type.
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            msg = " ".join(str(err["msg"]).removeprefix("Value error, ").split())
            if not err["loc"]:  # a check across settings names its variables itself
                parts.append(msg)
                continue
            parts.append(f"{env_name(err['loc'][0])}: {msg}")
        raise SettingsError("invalid setting " + "; ".join(parts)) from None
    except SourceError as exc:
        # A list or mapping setting whose text is not JSON (pydantic-settings decodes
        # those before any validator runs).
        found = re.search(r'field "([^"]+)"', str(exc))
        name = env_name(found.group(1)) if found else "HUB_*"
        raise SettingsError(f"invalid setting {name}: not a valid JSON value") from None


def env_name(field: object) -> str:
    """The environment variable of a settings field (``cors_origins`` -> ``HUB_CORS_ORIGINS``)."""
    return "HUB_" + str(field).upper()


def describe_database(url: str) -> str:
    """A database URL as shown to people: the password hidden, a SQLite path made
    absolute (``./hub.db`` means little in another folder)."""
    scheme = url.partition("://")[0]
    if scheme.startswith("sqlite"):
        path = sqlite_path(url)
        return f"{scheme}:///{path}" if path else url
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    return url


def sqlite_path(url: str) -> Path | None:
    """The absolute path of a SQLite database URL's file (None for ``:memory:``)."""
    rest = url.partition("://")[2]
    raw = rest[1:].split("?", 1)[0] if rest.startswith("/") else rest
    if raw in ("", ":memory:"):
        return None
    return Path(raw).expanduser().absolute()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
