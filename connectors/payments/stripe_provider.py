"""Stripe through the official library's ``StripeClient`` and its async methods.

Payments are PaymentIntents with ``capture_method=manual``, created and confirmed in
one call. Every call passes the hub's idempotency key as Stripe's ``Idempotency-Key``,
so the library's own retries (connection errors, 409 and 5xx, with exponential
backoff) and the caller's retries never move money twice.

Amounts: the hub's minor units follow ``hub.money`` (CLDR digits); Stripe's follow its
own table (zero-decimal currencies, three-decimal ones, and ISK/UGX which Stripe takes
as two-decimal amounts ending in 00). ``to_stripe_amount``/``from_stripe_amount``
convert at this edge, so 500 ISK is 500 to the hub and 50000 on the wire.

Refunded amounts: Stripe counts the authorization released by a partial capture (and
by a cancel) in the charge's ``amount_refunded``; ``PaymentIntentResult`` does not, so
the released part is subtracted.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import stripe
from stripe.params import (
    PaymentIntentCancelParams,
    PaymentIntentCaptureParams,
    PaymentIntentCreateParams,
    PaymentIntentRetrieveParams,
    RefundCreateParams,
)

from connectors.base import (
    AsyncClosing,
    Authorization,
    PaymentError,
    PaymentIntentResult,
    PaymentStatus,
    PaymentUnavailable,
    ProviderBase,
    RefundReason,
    WebhookEvent,
    WebhookSignatureError,
    check_idempotency_key,
    check_refund_reason,
)
from hub.money import exponent, is_currency

log = logging.getLogger(__name__)

PROVIDER: Final = "stripe"

# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
_ZERO_DECIMAL: Final = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split()
)
_THREE_DECIMAL: Final = frozenset("BHD JOD KWD OMR TND".split())
# Zero-decimal currencies Stripe takes as two-decimal amounts (a multiple of 100).
_TWO_DECIMAL_ON_THE_WIRE: Final = frozenset({"ISK", "UGX"})


def stripe_exponent(currency: str) -> int:
    """Minor-unit digits of ``currency`` in Stripe's API."""
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def to_stripe_amount(minor: int, currency: str) -> int:
    """Hub minor units to Stripe's ``amount`` (e.g. 500 ISK -> 50000)."""
    shift = stripe_exponent(currency) - exponent(currency)
    if shift >= 0:
        return minor * 10**shift
    whole, rest = divmod(minor, 10**-shift)
    if rest:
        raise PaymentError(
            "amount_precision",
            f"{minor} minor units of {currency} have more digits than Stripe accepts "
            f"({stripe_exponent(currency)}); round the amount first",
        )
    return whole


def from_stripe_amount(amount: int, currency: str) -> int:
    """Stripe's ``amount`` to hub minor units (e.g. 50000 ISK -> 500)."""
    shift = stripe_exponent(currency) - exponent(currency)
    if shift <= 0:
        return amount * 10**-shift
    whole, rest = divmod(amount, 10**shift)
    if rest:
        raise PaymentError(
            "amount_precision",
            f"Stripe reported {amount} for {currency}, finer than the hub's minor unit",
        )
    return whole


class _HTTPXClient(stripe.HTTPXClient):
    """The library's httpx client with configurable retry backoff.

    The library reads its backoff from the class constants ``HTTPClient.INITIAL_DELAY``
    (0.5 s) and ``MAX_DELAY`` (5 s), shared by every client in the process; this
    overrides the computation per instance instead (same doubling, same jitter)."""

    def __init__(self, *, timeout: float, initial_delay: float, max_delay: float) -> None:
        super().__init__(timeout=timeout)
        self._initial_delay = initial_delay
        self._max_delay = max_delay

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any
    ) -> Any:
        # The library hands httpx its encoded form body as ``data=<str>``, which httpx
        # deprecates (and will drop) in favour of ``content=``.
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        body = kwargs.pop("data", None)
        if isinstance(body, str | bytes):
            kwargs["content"] = body
        elif body:
            kwargs["data"] = body
        return args, kwargs

    def _sleep_time_seconds(self, num_retries: int) -> float:
        delay = min(self._initial_delay * 2 ** (num_retries - 1), self._max_delay)
        delay *= 0.5 * (1 + random.random())
        return max(self._initial_delay, delay)


def _error_body(error: stripe.StripeError) -> Mapping[str, Any]:
    body = error.json_body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return body["error"]
    return {}


@contextmanager
def _stripe_errors(operation: str) -> Iterator[None]:
    """Map the library's exceptions to ``PaymentError``/``PaymentUnavailable``."""
    try:
        yield
    except stripe.CardError as e:
        err = _error_body(e)
        code = err.get("decline_code") or e.code or "card_error"
        raise PaymentError(str(code), e.user_message or "the card was declined") from e
    except stripe.IdempotencyError as e:
        raise PaymentError(
            "idempotency_error",
            e.user_message or "the idempotency key was used with different parameters",
        ) from e
    except stripe.InvalidRequestError as e:
        raise PaymentError(e.code or "invalid_request", e.user_message or str(e)) from e
    except (stripe.AuthenticationError, stripe.PermissionError) as e:
        log.error("Stripe refused the API key during %s: %s", operation, e.user_message)
        raise PaymentUnavailable(f"Stripe refused the configured API key during {operation}") from e
    except stripe.RateLimitError as e:
        log.warning("Stripe rate limited %s", operation)
        raise PaymentUnavailable(f"Stripe is rate limiting requests ({operation})") from e
    except stripe.APIConnectionError as e:
        log.warning("Stripe unreachable during %s: %s", operation, e.user_message)
        raise PaymentUnavailable(f"could not reach Stripe ({operation})") from e
    except stripe.StripeError as e:
        log.warning(
            "Stripe failed during %s (HTTP %s, request %s)",
            operation,
            e.http_status,
            e.request_id,
        )
        raise PaymentUnavailable(f"Stripe failed ({operation}, HTTP {e.http_status})") from e


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


class StripeProvider(ProviderBase, AsyncClosing):
    """``PaymentProvider`` for Stripe PaymentIntents, plus webhook verification.

    ``api_base`` points the client elsewhere than ``https://api.stripe.com`` (a test
    stand-in). ``max_network_retries`` retries connection errors, 409 and 5xx with the
    same idempotency key, waiting ``retry_initial_delay`` doubled each time up to
    ``retry_max_delay``. ``timeout`` bounds each HTTP attempt. Close with ``aclose()``
    (or ``async with``) to release the connection pool.
    """

    name = PROVIDER

    def __init__(
        self,
        api_key: str,
        webhook_secret: str | None,
        api_base: str | None = None,
        max_network_retries: int = 2,
        timeout: float = 10,
        *,
        retry_initial_delay: float = 0.5,
        retry_max_delay: float = 5.0,
        webhook_tolerance: int = 300,
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe secret key (sk_...) or restricted key is required")
        if webhook_tolerance <= 0:
            # The library treats a tolerance of 0 as "accept any age".
            raise ValueError("webhook_tolerance must be a positive number of seconds")
        self._webhook_secret = webhook_secret
        self._webhook_tolerance = webhook_tolerance
        self._http = _HTTPXClient(
            timeout=timeout, initial_delay=retry_initial_delay, max_delay=retry_max_delay
        )
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        await self._http.close_async()

    # -- payments ---------------------------------------------------------------------

    async def _authorize(self, a: Authorization) -> PaymentIntentResult:
        """Create a manual-capture PaymentIntent and, given a payment method, confirm it.

        Without ``payment_method_id`` the intent is only created: the result is
        ``requires_action`` with the ``client_secret`` the storefront confirms with
        Stripe's client-side SDK."""
        amount, currency, payment_method_id = a.amount, a.currency, a.payment_method_id
        reference, idempotency_key, metadata = a.reference, a.idempotency_key, a.metadata
        check_idempotency_key(idempotency_key)
        if not reference or not reference.strip():
            raise PaymentError("reference_required", "pass the order or checkout reference")
        if not is_currency(currency):
            raise PaymentError("invalid_currency", f"{currency!r} is not an ISO 4217 code")
        if payment_method_id is not None and not payment_method_id.startswith("pm_"):
            raise PaymentError(
                "invalid_payment_method",
                "expected a Stripe PaymentMethod id (pm_...) tokenized on the client; "
                "the hub never handles card numbers",
            )
        params: PaymentIntentCreateParams = {
            "amount": to_stripe_amount(amount, currency),
            "currency": currency.lower(),
            "capture_method": "manual",
            "metadata": {**(metadata or {}), "reference": reference},
            "expand": ["latest_charge"],
        }
        if payment_method_id is not None:
            params["payment_method"] = payment_method_id
            params["confirm"] = True
            # Server-side confirmation cannot follow a redirect (it would need a
            # return_url); card 3-D Secure still comes back as requires_action.
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        with _stripe_errors("authorize"):
            try:
                intent = await self._client.v1.payment_intents.create_async(
                    params, {"idempotency_key": idempotency_key}
                )
            except stripe.CardError as e:
                return self._declined(e, amount, currency)
        return self._result(intent.to_dict())

    async def capture(
        self, intent_id: str, amount: int | None = None, *, idempotency_key: str
    ) -> PaymentIntentResult:
        check_idempotency_key(idempotency_key)
        params: PaymentIntentCaptureParams = {"expand": ["latest_charge"]}
        with _stripe_errors("capture"):
            if amount is not None:
                currency = await self._currency_of(intent_id)
                params["amount_to_capture"] = to_stripe_amount(amount, currency)
            intent = await self._client.v1.payment_intents.capture_async(
                intent_id, params, {"idempotency_key": idempotency_key}
            )
        return self._result(intent.to_dict())

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> PaymentIntentResult:
        check_idempotency_key(idempotency_key)
        params: PaymentIntentCancelParams = {"expand": ["latest_charge"]}
        with _stripe_errors("cancel"):
            intent = await self._client.v1.payment_intents.cancel_async(
                intent_id, params, {"idempotency_key": idempotency_key}
            )
        return self._result(intent.to_dict())

    async def _refund(
        self, intent_id: str, amount: int | None, idempotency_key: str, reason: RefundReason | None
    ) -> PaymentIntentResult:
        """Refund through the Refunds API; the result is the PaymentIntent after it."""
        check_idempotency_key(idempotency_key)
        check_refund_reason(reason)
        params: RefundCreateParams = {
            "payment_intent": intent_id,
            "expand": ["charge", "payment_intent"],
        }
        if reason is not None:
            params["reason"] = reason
        with _stripe_errors("refund"):
            if amount is not None:
                currency = await self._currency_of(intent_id)
                params["amount"] = to_stripe_amount(amount, currency)
            refund = await self._client.v1.refunds.create_async(
                params, {"idempotency_key": idempotency_key}
            )
        data = refund.to_dict()
        intent = _as_mapping(data.get("payment_intent"))
        if intent is None:
            raise PaymentUnavailable("Stripe returned a refund without its PaymentIntent")
        return self._result(intent, charge=_as_mapping(data.get("charge")))

    async def retrieve(self, intent_id: str) -> PaymentIntentResult:
        """The PaymentIntent as it stands now (for webhooks and reconciliation)."""
        params: PaymentIntentRetrieveParams = {"expand": ["latest_charge"]}
        with _stripe_errors("retrieve"):
            intent = await self._client.v1.payment_intents.retrieve_async(intent_id, params)
        return self._result(intent.to_dict())

    async def _currency_of(self, intent_id: str) -> str:
        # Only a partial amount needs the currency (to convert minor units).
        intent = await self._client.v1.payment_intents.retrieve_async(intent_id)
        return str(intent.to_dict()["currency"]).upper()

    # -- webhooks ---------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature_header: str) -> WebhookEvent:
        """Verify a webhook's ``Stripe-Signature`` header and parse its event.

        Pass the raw request body, byte for byte. A bad or missing signature, or a
        timestamp more than ``webhook_tolerance`` seconds in the past or in the future
        (a future one would stay valid longer than the tolerance), raises
        ``WebhookSignatureError``. A correctly signed body that is not a Stripe event
        object (a JSON array, a string, a thin ``v2`` notification, not JSON at all)
        raises ``PaymentError`` with code ``webhook_payload_invalid``."""
        if not self._webhook_secret:
            raise WebhookSignatureError("no Stripe webhook secret (whsec_...) is configured")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self._webhook_secret, self._webhook_tolerance
            )
        except stripe.SignatureVerificationError as e:
            raise WebhookSignatureError(e.user_message or "signature mismatch") from e
        except UnicodeDecodeError as e:
            raise WebhookSignatureError("the webhook body is not UTF-8") from e
        signed_at = _signature_timestamp(signature_header)
        if signed_at > time.time() + self._webhook_tolerance:
            raise WebhookSignatureError(
                f"the signature's timestamp ({signed_at}) is more than "
                f"{self._webhook_tolerance}s in the future"
            )
        try:
            data = json.loads(payload)
        except ValueError as e:
            raise PaymentError("webhook_payload_invalid", f"the body is not JSON: {e}") from e
        if not isinstance(data, Mapping) or data.get("object") != "event":
            raise PaymentError(
                "webhook_payload_invalid",
                'the body is not a Stripe event (a JSON object with "object": "event")',
            )
        if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
            raise PaymentError("webhook_payload_invalid", "the event has no string id and type")
        body = _as_mapping(data.get("data")) or {}
        obj = _as_mapping(body.get("object")) or {}
        return WebhookEvent(
            id=data["id"],
            type=data["type"],
            intent_id=_intent_id_of(obj),
            data=obj,
        )

    # -- mapping ----------------------------------------------------------------------

    def _result(
        self, intent: Mapping[str, Any], charge: Mapping[str, Any] | None = None
    ) -> PaymentIntentResult:
        currency = str(intent["currency"]).upper()
        raw_status = str(intent.get("status") or "")
        if charge is None:
            charge = _as_mapping(intent.get("latest_charge"))
        amount = from_stripe_amount(int(intent["amount"]), currency)
        captured = from_stripe_amount(int(intent.get("amount_received") or 0), currency)
        refunded = 0
        if charge is not None and charge.get("captured"):
            released = int(charge.get("amount") or 0) - int(charge.get("amount_captured") or 0)
            refunded_on_wire = max(0, int(charge.get("amount_refunded") or 0) - released)
            refunded = from_stripe_amount(refunded_on_wire, currency)
        error = _as_mapping(intent.get("last_payment_error"))
        status = _status(
            raw_status, declined=error is not None, captured=captured, refunded=refunded
        )
        failure_code = failure_message = None
        if status == "failed":
            failure_code = str(
                (error or {}).get("decline_code") or (error or {}).get("code") or "payment_failed"
            )
            failure_message = (error or {}).get("message")
        return PaymentIntentResult(
            provider=PROVIDER,
            id=str(intent["id"]),
            status=status,
            amount=amount,
            currency=currency,
            amount_captured=captured,
            amount_refunded=refunded,
            failure_code=failure_code,
            failure_message=failure_message,
            raw_status=raw_status,
            client_secret=intent.get("client_secret") if status == "requires_action" else None,
        )

    def _declined(self, error: stripe.CardError, amount: int, currency: str) -> PaymentIntentResult:
        """A 402 from create+confirm: the intent exists, its payment method was declined."""
        err = _error_body(error)
        code = str(err.get("decline_code") or err.get("code") or error.code or "card_declined")
        message = str(err.get("message") or error.user_message or "the card was declined")
        intent = _as_mapping(err.get("payment_intent"))
        if intent is not None:
            base = self._result(intent)
            intent_id, raw_status = base.id, base.raw_status
            amount, currency = base.amount, base.currency
        else:
            intent_id, raw_status = "", "requires_payment_method"
        return PaymentIntentResult(
            provider=PROVIDER,
            id=intent_id,
            status="failed",
            amount=amount,
            currency=currency.upper(),
            amount_captured=0,
            amount_refunded=0,
            failure_code=code,
            failure_message=message,
            raw_status=raw_status,
        )


def _status(raw: str, *, declined: bool, captured: int, refunded: int) -> PaymentStatus:
    match raw:
        case "requires_capture":
            return "authorized"
        case "succeeded":
            if refunded and refunded >= captured:
                return "refunded"
            return "partially_refunded" if refunded else "captured"
        case "canceled":
            return "canceled"
        case "processing":
            return "processing"
        case "requires_payment_method":
            # After a decline Stripe returns the intent to requires_payment_method with
            # last_payment_error set; without one it was never confirmed.
            return "failed" if declined else "requires_action"
        case "requires_action" | "requires_confirmation":
            return "requires_action"
        case _:
            return "unknown"


def _signature_timestamp(header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header already verified (so it has one)."""
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t":
            return int(value)
    raise WebhookSignatureError("the signature header has no timestamp")  # pragma: no cover


def _intent_id_of(obj: Mapping[str, Any]) -> str | None:
    if obj.get("object") == "payment_intent":
        return obj["id"] if isinstance(obj.get("id"), str) else None
    ref = obj.get("payment_intent")
    if isinstance(ref, str):
        return ref
    nested = _as_mapping(ref)
    return str(nested["id"]) if nested and "id" in nested else None
