"""Payment providers: Stripe against a local stand-in for its API, offline tenders,
webhook verification and deduplication.

``FakeStripe`` is a Starlette app served by uvicorn on a free 127.0.0.1 port. It speaks
Stripe's documented v1 wire format for the calls the provider makes (form-encoded
bodies with ``metadata[key]`` and ``expand[0]``, Bearer auth, ``Idempotency-Key``
replay, JSON objects and error bodies shaped like Stripe's, 402 card errors for the
documented test payment methods), so the official library runs end to end: encoding,
headers, retries and error classes. It can fail the next requests with a 500 or drop
the connection after doing the work, to exercise retries.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.payments import (
    CashProvider,
    ExternalTerminalProvider,
    MemoryWebhookDeduper,
    PaymentError,
    PaymentProvider,
    PaymentUnavailable,
    TestPaymentProvider,
    WebhookSignatureError,
)
from connectors.payments.stripe_provider import (
    StripeProvider,
    from_stripe_amount,
    to_stripe_amount,
)
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    PM_AUTHENTICATION_REQUIRED,
    PM_DECLINES,
    PM_SUCCEEDS,
    WEBHOOK_SECRET,
    FakeStripe,
    _event,
    _fake_stripe_server,
    _no_stripe_telemetry,
    _sign,
    fake_stripe,
)

# -- the stand-in ------------------------------------------------------------------------


# -- fixtures ----------------------------------------------------------------------------


def _provider(base_url: str, *, api_key: str = API_KEY, retries: int = 2) -> StripeProvider:
    return StripeProvider(
        api_key,
        WEBHOOK_SECRET,
        api_base=base_url,
        max_network_retries=retries,
        timeout=5,
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
    )


@pytest.fixture
async def provider(fake_stripe: FakeStripe) -> AsyncIterator[StripeProvider]:  # noqa: F811
    async with _provider(fake_stripe.base_url) as p:
        yield p


def _key() -> str:
    return f"test-{secrets.token_hex(8)}"


async def _authorize(
    provider: StripeProvider,
    amount: int = 1999,
    currency: str = "USD",
    pm: str | None = "pm_card_visa",
    key: str | None = None,
) -> Any:
    return await provider.authorize(
        amount=amount,
        currency=currency,
        payment_method_id=pm,
        reference="order-1001",
        idempotency_key=key or _key(),
        metadata={"checkout": "chk_42"},
    )


# -- Stripe: the payment lifecycle ------------------------------------------------------


async def test_authorize_then_capture(provider: StripeProvider, fake_stripe: FakeStripe) -> None:  # noqa: F811
    key = _key()
    auth = await _authorize(provider, key=key)
    assert auth.provider == "stripe"
    assert auth.id.startswith("pi_")
    assert (auth.status, auth.raw_status) == ("authorized", "requires_capture")
    assert (auth.amount, auth.currency, auth.amount_captured) == (1999, "USD", 0)
    assert auth.failure_code is None
    assert auth.client_secret is None

    sent = fake_stripe.requests[0]
    assert (sent.method, sent.path, sent.idempotency_key) == ("POST", "/v1/payment_intents", key)
    assert sent.stripe_version
    assert sent.params["amount"] == "1999"
    assert sent.params["currency"] == "usd"
    assert sent.params["capture_method"] == "manual"
    assert sent.params["confirm"] == "true"
    assert sent.params["payment_method"] == "pm_card_visa"
    assert sent.params["metadata"] == {"checkout": "chk_42", "reference": "order-1001"}

    captured = await provider.capture(auth.id, idempotency_key=_key())
    assert (captured.status, captured.raw_status) == ("captured", "succeeded")
    assert (captured.amount, captured.amount_captured, captured.amount_refunded) == (1999, 1999, 0)
    assert fake_stripe.intent(auth.id)["status"] == "succeeded"


async def test_authorize_then_cancel(provider: StripeProvider, fake_stripe: FakeStripe) -> None:  # noqa: F811
    auth = await _authorize(provider)
    canceled = await provider.cancel(auth.id, idempotency_key=_key())
    assert (canceled.status, canceled.raw_status) == ("canceled", "canceled")
    # Stripe shows the released authorization as refunded on the charge; it is not a refund.
    assert (canceled.amount_captured, canceled.amount_refunded) == (0, 0)
    charge = fake_stripe.objects[fake_stripe.intent(auth.id)["latest_charge"]]
    assert charge["amount_refunded"] == 1999


@pytest.mark.parametrize(
    ("pm", "code"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
    ],
)
async def test_decline_is_a_failed_result_not_an_exception(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
    pm: str,
    code: str,
) -> None:
    result = await _authorize(provider, pm=pm)
    assert result.status == "failed"
    assert result.failure_code == code
    assert result.failure_message
    assert result.id in fake_stripe.created_intents
    assert (result.raw_status, result.amount, result.currency) == (
        "requires_payment_method",
        1999,
        "USD",
    )
    # Reading the intent back tells the same story, from last_payment_error.
    again = await provider.retrieve(result.id)
    assert (again.status, again.failure_code) == ("failed", code)


async def test_partial_capture_releases_the_rest(provider: StripeProvider) -> None:
    auth = await _authorize(provider, amount=5000)
    captured = await provider.capture(auth.id, 3000, idempotency_key=_key())
    assert captured.status == "captured"
    assert (captured.amount, captured.amount_captured, captured.amount_refunded) == (5000, 3000, 0)

    refunded = await provider.refund(auth.id, idempotency_key=_key())
    assert refunded.status == "refunded"
    assert (refunded.amount_captured, refunded.amount_refunded) == (3000, 3000)


async def test_refund_partial_then_full(provider: StripeProvider, fake_stripe: FakeStripe) -> None:  # noqa: F811
    auth = await _authorize(provider, amount=2000)
    await provider.capture(auth.id, idempotency_key=_key())

    part = await provider.refund(
        auth.id, 500, idempotency_key=_key(), reason="requested_by_customer"
    )
    assert (part.status, part.raw_status) == ("partially_refunded", "succeeded")
    assert (part.amount_captured, part.amount_refunded) == (2000, 500)
    sent = fake_stripe.requests[-1]
    assert (sent.path, sent.params["payment_intent"], sent.params["amount"]) == (
        "/v1/refunds",
        auth.id,
        "500",
    )
    assert sent.params["reason"] == "requested_by_customer"

    rest = await provider.refund(auth.id, idempotency_key=_key())
    assert (rest.status, rest.amount_refunded) == ("refunded", 2000)

    with pytest.raises(PaymentError) as excinfo:
        await provider.refund(auth.id, idempotency_key=_key())
    assert excinfo.value.code == "charge_already_refunded"


async def test_refund_more_than_captured_is_refused(provider: StripeProvider) -> None:
    auth = await _authorize(provider, amount=1000)
    await provider.capture(auth.id, idempotency_key=_key())
    with pytest.raises(PaymentError) as excinfo:
        await provider.refund(auth.id, 1001, idempotency_key=_key())
    assert excinfo.value.code == "amount_too_large"


async def test_requires_action_hands_back_the_client_secret(provider: StripeProvider) -> None:
    three_ds = await _authorize(provider, pm="pm_card_authenticationRequired")
    assert (three_ds.status, three_ds.raw_status) == ("requires_action", "requires_action")
    assert three_ds.client_secret and three_ds.client_secret.startswith(three_ds.id)

    # Without a payment method the intent is created for the storefront to confirm.
    unconfirmed = await _authorize(provider, pm=None)
    assert (unconfirmed.status, unconfirmed.raw_status) == (
        "requires_action",
        "requires_payment_method",
    )
    assert unconfirmed.client_secret and unconfirmed.failure_code is None


async def test_currency_minor_units_follow_stripe_on_the_wire(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    yen = await _authorize(provider, amount=500, currency="JPY")
    assert fake_stripe.intent(yen.id)["amount"] == 500
    assert (yen.amount, yen.currency) == (500, "JPY")

    # ISK has no minor unit, but Stripe takes it as a two-decimal amount.
    krona = await _authorize(provider, amount=500, currency="ISK")
    assert fake_stripe.intent(krona.id)["amount"] == 50000
    assert krona.amount == 500
    captured = await provider.capture(krona.id, 200, idempotency_key=_key())
    assert fake_stripe.intent(krona.id)["amount_received"] == 20000
    assert (captured.amount, captured.amount_captured) == (500, 200)

    assert (to_stripe_amount(1999, "USD"), from_stripe_amount(1999, "USD")) == (1999, 1999)
    assert (to_stripe_amount(1500, "KWD"), to_stripe_amount(7, "UGX")) == (1500, 700)
    with pytest.raises(PaymentError):
        from_stripe_amount(50050, "ISK")


# -- Stripe: idempotency and retries ----------------------------------------------------


async def test_same_idempotency_key_returns_the_first_intent(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    key = _key()
    first = await _authorize(provider, key=key)
    second = await _authorize(provider, key=key)
    assert second == first
    assert fake_stripe.created_intents == [first.id]

    capture_key = _key()
    once = await provider.capture(first.id, idempotency_key=capture_key)
    twice = await provider.capture(first.id, idempotency_key=capture_key)
    assert once == twice
    assert twice.status == "captured"

    with pytest.raises(PaymentError) as excinfo:
        await _authorize(provider, amount=2500, key=key)
    assert excinfo.value.code == "idempotency_error"
    assert fake_stripe.created_intents == [first.id]


async def _authorized_after_one_failure(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
    failure: str,
) -> Any:
    """An authorization whose first request to Stripe fails (``failure``): retried once,
    with the same idempotency key, and authorized."""
    fake_stripe.fail_next(1, failure)
    key = _key()
    result = await _authorize(provider, key=key)
    assert result.status == "authorized"
    assert [r.idempotency_key for r in fake_stripe.requests] == [key, key]
    return result


async def test_a_500_is_retried_with_the_same_key(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    await _authorized_after_one_failure(provider, fake_stripe, "500")
    assert len(fake_stripe.created_intents) == 1


async def test_a_dropped_response_is_retried_and_replayed(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    # The server creates the intent, then the connection drops before the response:
    # the retry carries the same key and gets the first intent back, not a second one.
    result = await _authorized_after_one_failure(provider, fake_stripe, "drop")
    assert fake_stripe.created_intents == [result.id]


async def test_persistent_5xx_is_unavailable_after_retries(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    fake_stripe.fail_next(3, "500")
    with pytest.raises(PaymentUnavailable):
        await _authorize(provider)
    assert len(fake_stripe.requests) == 3  # the first attempt and two retries
    assert fake_stripe.created_intents == []


async def test_network_down_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    async with _provider(f"http://127.0.0.1:{port}") as provider:
        with pytest.raises(PaymentUnavailable):
            await _authorize(provider)
        with pytest.raises(PaymentUnavailable):
            await provider.capture("pi_123", idempotency_key=_key())
    assert time.monotonic() - started < 5


async def test_a_rejected_api_key_is_unavailable_not_a_user_error(
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    async with _provider(fake_stripe.base_url, api_key="sk_test_wrong") as provider:
        with pytest.raises(PaymentUnavailable):
            await _authorize(provider)


# -- Stripe: invalid requests -----------------------------------------------------------


async def test_invalid_requests_raise_payment_error(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    with pytest.raises(PaymentError) as excinfo:
        await _authorize(provider, amount=-5)
    assert excinfo.value.code == "parameter_invalid_integer"
    assert "greater than or equal to 1" in excinfo.value.message

    with pytest.raises(PaymentError) as excinfo:
        await _authorize(provider, pm="pm_card_unknown")
    assert excinfo.value.code == "resource_missing"

    with pytest.raises(PaymentError) as excinfo:
        await provider.capture("pi_missing", idempotency_key=_key())
    assert excinfo.value.code == "resource_missing"

    auth = await _authorize(provider)
    await provider.cancel(auth.id, idempotency_key=_key())
    with pytest.raises(PaymentError) as excinfo:
        await provider.capture(auth.id, idempotency_key=_key())
    assert excinfo.value.code == "payment_intent_unexpected_state"
    assert not fake_stripe.faults


async def test_card_numbers_never_leave_the_hub(
    provider: StripeProvider,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    with pytest.raises(PaymentError) as excinfo:
        await _authorize(provider, pm="4242424242424242")
    assert excinfo.value.code == "invalid_payment_method"
    with pytest.raises(PaymentError) as excinfo:
        await _authorize(provider, currency="XXY")
    assert excinfo.value.code == "invalid_currency"
    assert fake_stripe.requests == []


# -- Stripe: webhooks -------------------------------------------------------------------


_INTENT = {
    "id": "pi_webhook",
    "object": "payment_intent",
    "amount": 1999,
    "currency": "usd",
    "status": "succeeded",
}


async def test_webhook_with_a_valid_signature_is_parsed(provider: StripeProvider) -> None:
    payload = _event(_INTENT)
    event = provider.parse_webhook(payload, _sign(payload))
    assert event.id == json.loads(payload)["id"]
    assert (event.type, event.intent_id) == ("payment_intent.succeeded", "pi_webhook")
    assert event.data["status"] == "succeeded"

    refund_payload = _event(
        {"id": "ch_1", "object": "charge", "payment_intent": "pi_webhook"}, "charge.refunded"
    )
    refund_event = provider.parse_webhook(refund_payload, _sign(refund_payload))
    assert (refund_event.type, refund_event.intent_id) == ("charge.refunded", "pi_webhook")


async def test_webhook_signature_failures_are_rejected(provider: StripeProvider) -> None:
    payload = _event(_INTENT)
    header = _sign(payload)
    tampered = payload.replace(b"1999", b"1")
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(tampered, header)
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(payload, _sign(payload, secret="whsec_someone_else"))
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(payload, "")
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(payload, "garbage")
    stale = _sign(payload, timestamp=int(time.time()) - 301)
    with pytest.raises(WebhookSignatureError) as excinfo:
        provider.parse_webhook(payload, stale)
    assert excinfo.value.code == "webhook_signature_invalid"
    recent = _sign(payload, timestamp=int(time.time()) - 200)
    assert provider.parse_webhook(payload, recent).intent_id == "pi_webhook"


async def test_webhook_without_a_configured_secret_is_rejected(fake_stripe: FakeStripe) -> None:  # noqa: F811
    payload = _event(_INTENT)
    async with StripeProvider(API_KEY, None, api_base=fake_stripe.base_url) as provider:
        with pytest.raises(WebhookSignatureError):
            provider.parse_webhook(payload, _sign(payload))


async def test_webhook_deduper_skips_redeliveries() -> None:
    deduper = MemoryWebhookDeduper(max_entries=2)
    assert await deduper.seen("evt_1") is False
    assert await deduper.seen("evt_1") is True
    await deduper.forget("evt_1")  # handling failed: the redelivery is handled
    assert await deduper.seen("evt_1") is False
    assert await deduper.seen("evt_2") is False
    assert await deduper.seen("evt_3") is False  # evicts the oldest, evt_1
    assert len(deduper) == 2
    assert await deduper.seen("evt_1") is False


# -- offline providers ------------------------------------------------------------------


async def test_every_provider_implements_the_protocol() -> None:
    async with StripeProvider(API_KEY, None) as stripe_provider:
        providers: list[object] = [CashProvider(), ExternalTerminalProvider(), stripe_provider]
        assert all(isinstance(p, PaymentProvider) for p in providers)


@pytest.mark.parametrize(
    ("provider_cls", "reference"),
    [(CashProvider, "drawer-3"), (ExternalTerminalProvider, "T42:000123")],
)
async def test_offline_payment_lifecycle(
    provider_cls: type[CashProvider | ExternalTerminalProvider], reference: str
) -> None:
    provider = provider_cls()
    key = _key()

    async def pay(amount: int = 2500, key: str = key) -> Any:
        return await provider.authorize(
            amount=amount,
            currency="EUR",
            payment_method_id=None,
            reference=reference,
            idempotency_key=key,
        )

    paid = await pay()
    assert (paid.provider, paid.status, paid.raw_status) == (provider.name, "captured", "captured")
    assert (paid.amount, paid.currency, paid.amount_captured, paid.amount_refunded) == (
        2500,
        "EUR",
        2500,
        0,
    )
    assert (await pay()).id == paid.id  # same key, same payment
    assert (await pay(key=_key())).id != paid.id

    assert await provider.capture(paid.id, idempotency_key=_key()) == paid
    with pytest.raises(PaymentError):
        await provider.capture(paid.id, 1000, idempotency_key=_key())
    with pytest.raises(PaymentError) as excinfo:
        await provider.cancel(paid.id, idempotency_key=_key())
    assert excinfo.value.code == "payment_intent_unexpected_state"

    part = await provider.refund(paid.id, 1000, idempotency_key=_key(), reason="duplicate")
    assert (part.status, part.amount_refunded) == ("partially_refunded", 1000)
    full = await provider.refund(paid.id, idempotency_key=_key())
    assert (full.status, full.amount_refunded) == ("refunded", 2500)
    with pytest.raises(PaymentError) as excinfo:
        await provider.refund(paid.id, 2501, idempotency_key=_key())
    assert excinfo.value.code == "amount_too_large"
    with pytest.raises(PaymentError) as excinfo:
        await provider.refund("pi_not_ours", idempotency_key=_key())
    assert excinfo.value.code == "resource_missing"


@pytest.mark.parametrize("provider_cls", [CashProvider, ExternalTerminalProvider])
async def test_offline_payments_validate_their_input(
    provider_cls: type[CashProvider | ExternalTerminalProvider],
) -> None:
    provider = provider_cls()
    good: dict[str, Any] = {
        "amount": 100,
        "currency": "USD",
        "payment_method_id": None,
        "reference": "ref-1",
        "idempotency_key": "k1",
    }
    bad_inputs: list[tuple[dict[str, Any], str]] = [
        ({"reference": " "}, "reference_required"),
        ({"idempotency_key": ""}, "idempotency_key_required"),
        ({"amount": 0}, "invalid_amount"),
        ({"amount": -100}, "invalid_amount"),
        ({"currency": "usd"}, "invalid_currency"),
        ({"payment_method_id": "pm_card_visa"}, "payment_method_not_supported"),
    ]
    for change, code in bad_inputs:
        with pytest.raises(PaymentError) as excinfo:
            await provider.authorize(**{**good, **change})
        assert excinfo.value.code == code, change
    assert (await provider.authorize(**good)).status == "captured"


# -- the test provider ------------------------------------------------------------------


async def test_test_provider_answers_like_stripe_for_stripes_test_payment_methods(
    provider: StripeProvider,
) -> None:
    """For every test PaymentMethod the Stripe stand-in knows, the test provider gives
    the status, decline code and amounts the Stripe provider gives through Stripe."""
    test = TestPaymentProvider()
    for pm in sorted(PM_SUCCEEDS | PM_DECLINES.keys() | {PM_AUTHENTICATION_REQUIRED}):
        via_stripe = await _authorize(provider, pm=pm, amount=4321, currency="EUR")
        via_test = await test.authorize(
            amount=4321,
            currency="EUR",
            payment_method_id=pm,
            reference="order-1001",
            idempotency_key=_key(),
        )
        assert (via_test.status, via_test.failure_code) == (
            via_stripe.status,
            via_stripe.failure_code,
        ), pm
        assert (via_test.amount, via_test.currency, via_test.amount_captured) == (
            via_stripe.amount,
            via_stripe.currency,
            via_stripe.amount_captured,
        ), pm
        assert bool(via_test.client_secret) == bool(via_stripe.client_secret), pm
        assert via_test.test is True and via_stripe.test is False


async def test_test_provider_cards_currencies_and_lifecycle() -> None:
    test = TestPaymentProvider()
    assert isinstance(test, PaymentProvider)

    async def pay(pm: str, amount: int = 2500, currency: str = "USD", key: str = "k1") -> Any:
        return await test.authorize(
            amount=amount,
            currency=currency,
            payment_method_id=pm,
            reference="r",
            idempotency_key=key,
        )

    for brand in ("visa", "visa_debit", "mastercard", "amex", "discover", "jcb", "diners"):
        got = await pay(f"pm_card_{brand}")
        assert (got.status, got.raw_status, got.test) == ("authorized", "requires_capture", True)
    assert (await pay("pm_card_de")).status == "authorized"  # cards by country
    for pm, code in (
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_visa_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedLostCard", "lost_card"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
    ):
        got = await pay(pm)
        assert (got.status, got.failure_code) == ("failed", code), pm
        assert got.failure_message
    for pm in ("pm_card_authenticationRequired", "pm_card_threeDSecure2Required"):
        got = await pay(pm)
        assert got.status == "requires_action" and got.client_secret
    # Any currency, any amount, in the hub's minor units.
    for currency, amount in (("JPY", 1_500_000), ("KWD", 12_345), ("CHF", 10**11)):
        got = await pay("pm_card_visa", amount, currency)
        assert (got.amount, got.currency) == (amount, currency)
    for bad, code in (
        ("tok_visa", "invalid_payment_method"),
        ("4242424242424242", "invalid_payment_method"),
        ("pm_card_nonsense", "resource_missing"),
        ("pm_1Nx", "resource_missing"),
    ):
        with pytest.raises(PaymentError) as excinfo:
            await pay(bad)
        assert excinfo.value.code == code, bad
    with pytest.raises(PaymentError) as excinfo:
        await pay("pm_card_visa", currency="usd")
    assert excinfo.value.code == "invalid_currency"
    with pytest.raises(PaymentError) as excinfo:
        await pay("pm_card_visa", amount=0)
    assert excinfo.value.code == "invalid_amount"

    # The same key and payment give the same payment; authorize, capture, refund, cancel.
    paid = await pay("pm_card_visa", 5000, "EUR", key="same")
    assert (await pay("pm_card_visa", 5000, "EUR", key="same")).id == paid.id
    assert (await pay("pm_card_visa", 5000, "EUR", key="other")).id != paid.id
    part = await test.capture(paid.id, 3000, idempotency_key="c")
    assert (part.status, part.amount_captured) == ("captured", 3000)
    with pytest.raises(PaymentError) as excinfo:
        await test.capture(paid.id, 5001, idempotency_key="c2")
    assert excinfo.value.code == "amount_too_large"
    back = await test.refund(paid.id, 1000, idempotency_key="r")
    assert (back.status, back.amount_refunded) == ("partially_refunded", 1000)
    assert (await test.refund(paid.id, idempotency_key="r2")).status == "refunded"
    assert (await test.cancel(paid.id, idempotency_key="v")).status == "canceled"
    with pytest.raises(PaymentError) as excinfo:
        await test.cancel("pi_123", idempotency_key="v")
    assert excinfo.value.code == "resource_missing"
