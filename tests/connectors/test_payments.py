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

import copy
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

import pytest
import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

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

API_KEY = "sk_test_hub_payments_0123456789"
WEBHOOK_SECRET = "whsec_test_hub_payments"

# https://docs.stripe.com/testing: test PaymentMethods and what they do.
PM_SUCCEEDS = frozenset({"pm_card_visa", "pm_card_mastercard"})
PM_DECLINES = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", None, "Your card has expired."),
}
PM_AUTHENTICATION_REQUIRED = "pm_card_authenticationRequired"
CANCELABLE = frozenset(
    {
        "requires_payment_method",
        "requires_capture",
        "requires_confirmation",
        "requires_action",
        "processing",
    }
)

Result = tuple[int, dict[str, Any]]
Fault = Literal["500", "drop"]


# -- the stand-in ------------------------------------------------------------------------


def parse_form(encoded: str) -> dict[str, Any]:
    """Stripe's form encoding: ``a[b]=1`` nests, ``a[0]=x`` makes lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *re.findall(r"\[([^\]]*)\]", key)]
        node = root
        for i, part in enumerate(path[:-1]):
            node = node.setdefault(part or str(len(node)), {})
            assert isinstance(node, dict), f"conflicting keys at {path[: i + 1]}"
        last = path[-1]
        node[last or str(len(node))] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


def _error(
    status: int, type_: str, message: str, *, code: str | None = None, param: str | None = None
) -> Result:
    err: dict[str, Any] = {"type": type_, "message": message}
    if code:
        err["code"] = code
        err["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        err["param"] = param
    return status, {"error": err}


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> Result:
    return _error(400, "invalid_request_error", message, code=code, param=param)


def _positive_int(params: dict[str, Any], name: str) -> int | Result:
    raw = params.get(name)
    if raw is None:
        return _invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    try:
        value = int(raw)
    except ValueError:
        return _invalid(f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name)
    if value < 1:
        return _invalid(
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def _missing(kind: str, object_id: str, param: str) -> Result:
    return _error(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def _unexpected_state(intent: dict[str, Any], action: str, allowed: str) -> Result:
    return _invalid(
        f"This PaymentIntent could not be {action} because it has a status of "
        f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
        f"may be {action}: {allowed}.",
        code="payment_intent_unexpected_state",
    )


@dataclass
class _Stored:
    fingerprint: tuple[str, str, tuple[tuple[str, str], ...]]
    status: int
    body: dict[str, Any]


@dataclass
class Seen:
    method: str
    path: str
    idempotency_key: str | None
    stripe_version: str | None
    params: dict[str, Any]


class _DroppedResponse(Response):
    """Send the status line, then close the connection: the client sees a broken
    response after the server has done the work."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")],
            }
        )
        raise ConnectionAbortedError("stand-in dropped the connection")


class FakeStripe:
    """Just enough of api.stripe.com/v1 for PaymentIntents and Refunds."""

    def __init__(self) -> None:
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/v1/payment_intents", self._route(self._create), methods=["POST"]),
                Route("/v1/payment_intents/{id}", self._route(self._retrieve), methods=["GET"]),
                Route(
                    "/v1/payment_intents/{id}/capture",
                    self._route(self._capture),
                    methods=["POST"],
                ),
                Route(
                    "/v1/payment_intents/{id}/cancel", self._route(self._cancel), methods=["POST"]
                ),
                Route("/v1/refunds", self._route(self._refund), methods=["POST"]),
            ]
        )
        self.reset()

    def reset(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.created_intents: list[str] = []
        self.requests: list[Seen] = []
        self.faults: deque[Fault] = deque()
        self._idempotency: dict[str, _Stored] = {}

    def fail_next(self, count: int, fault: Fault) -> None:
        self.faults.extend([fault] * count)

    def intent(self, intent_id: str) -> dict[str, Any]:
        return self.objects[intent_id]

    # -- plumbing ----------------------------------------------------------------------

    def _route(
        self, op: Callable[[dict[str, Any], dict[str, str]], Result]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self._dispatch(request, op)

        return endpoint

    async def _dispatch(
        self, request: Request, op: Callable[[dict[str, Any], dict[str, str]], Result]
    ) -> Response:
        post = request.method == "POST"
        encoded = (await request.body()).decode() if post else request.url.query
        params = parse_form(encoded)
        key = request.headers.get("idempotency-key") if post else None
        self.requests.append(
            Seen(
                request.method,
                request.url.path,
                key,
                request.headers.get("stripe-version"),
                params,
            )
        )
        headers = {"request-id": f"req_{secrets.token_hex(7)}"}
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            status, body = _error(
                401, "invalid_request_error", "Invalid API Key provided: sk_test_****"
            )
            return JSONResponse(body, status, headers=headers)
        fault = self.faults.popleft() if self.faults else None
        if fault == "500":
            status, body = _error(500, "api_error", "Something went wrong on Stripe's end.")
            return JSONResponse(body, status, headers=headers)

        fingerprint = (request.method, request.url.path, tuple(sorted(parse_qsl(encoded))))
        stored = self._idempotency.get(key) if key else None
        if stored is not None:
            if stored.fingerprint != fingerprint:
                status, body = _error(
                    400,
                    "idempotency_error",
                    f"Keys for idempotent requests can only be used with the same "
                    f"parameters they were first used with. Try using a key other than "
                    f"'{key}' if you meant to execute a different request.",
                )
            else:
                status, body = stored.status, stored.body
                headers["idempotent-replayed"] = "true"
        else:
            status, body = op(params, dict(request.path_params))
            if key:
                self._idempotency[key] = _Stored(fingerprint, status, body)
        if fault == "drop":
            return _DroppedResponse()
        return JSONResponse(body, status, headers=headers)

    def _new(self, prefix: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj["id"] = f"{prefix}_{secrets.token_hex(12)}"
        obj["created"] = int(time.time())
        obj["livemode"] = False
        self.objects[obj["id"]] = obj
        return obj

    def _render(self, obj: dict[str, Any], expand: Any) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        for path in expand if isinstance(expand, list) else []:
            self._expand(out, path.split("."))
        return out

    def _expand(self, obj: dict[str, Any], path: list[str]) -> None:
        ref = obj.get(path[0])
        if isinstance(ref, str) and ref in self.objects:
            ref = obj[path[0]] = copy.deepcopy(self.objects[ref])
        if len(path) > 1 and isinstance(ref, dict):
            self._expand(ref, path[1:])

    # -- endpoints ---------------------------------------------------------------------

    def _create(self, params: dict[str, Any], _: dict[str, str]) -> Result:
        amount = _positive_int(params, "amount")
        if isinstance(amount, tuple):
            return amount
        currency = params.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            return _invalid(f"Invalid currency: {currency}.", param="currency")
        capture_method = params.get("capture_method", "automatic_async")
        confirm = params.get("confirm") == "true"
        pm = params.get("payment_method")
        if pm is not None and pm not in PM_SUCCEEDS | PM_DECLINES.keys() | {
            PM_AUTHENTICATION_REQUIRED
        }:
            return _invalid(
                f"No such PaymentMethod: '{pm}'", code="resource_missing", param="payment_method"
            )
        apm = params.get("automatic_payment_methods") or {}
        if (
            confirm
            and "return_url" not in params
            and apm.get("allow_redirects") != "never"
            and "payment_method_types" not in params
        ):
            return _invalid(
                "This PaymentIntent is configured to accept payment methods enabled in your "
                "Dashboard. Because some of these payment methods might redirect your "
                "customer off of your page, you must provide a `return_url`."
            )
        if confirm and pm is None:
            return _invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        intent = self._new(
            "pi",
            {
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": 0,
                "capture_method": capture_method,
                "confirmation_method": "automatic",
                "currency": currency,
                "metadata": params.get("metadata") or {},
                "payment_method": pm,
                "status": "requires_confirmation" if pm else "requires_payment_method",
                "last_payment_error": None,
                "latest_charge": None,
                "next_action": None,
                "canceled_at": None,
                "cancellation_reason": None,
            },
        )
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        self.created_intents.append(intent["id"])
        expand = params.get("expand")
        if not confirm:
            return 200, self._render(intent, expand)
        assert isinstance(pm, str)
        if pm == PM_AUTHENTICATION_REQUIRED:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            return 200, self._render(intent, expand)
        manual = capture_method == "manual"
        charge = self._new(
            "ch",
            {
                "object": "charge",
                "amount": amount,
                "amount_captured": 0 if manual else amount,
                "amount_refunded": 0,
                "captured": not manual,
                "currency": currency,
                "payment_intent": intent["id"],
                "payment_method": pm,
                "refunded": False,
            },
        )
        intent["latest_charge"] = charge["id"]
        if pm in PM_DECLINES:
            code, decline_code, message = PM_DECLINES[pm]
            charge.update(status="failed", paid=False, failure_code=code, failure_message=message)
            charge["outcome"] = {"type": "issuer_declined", "reason": decline_code or code}
            error = {
                "type": "card_error",
                "code": code,
                "message": message,
                "charge": charge["id"],
                "payment_method": {"id": pm, "object": "payment_method", "type": "card"},
            }
            if decline_code:
                error["decline_code"] = decline_code
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = error
            body = {**error, "payment_intent": self._render(intent, None)}
            return 402, {"error": body}
        charge.update(status="succeeded", paid=True, outcome={"type": "authorized"})
        if manual:
            intent.update(status="requires_capture", amount_capturable=amount)
        else:
            intent.update(status="succeeded", amount_received=amount)
        return 200, self._render(intent, expand)

    def _retrieve(self, params: dict[str, Any], path: dict[str, str]) -> Result:
        intent = self.objects.get(path["id"])
        if intent is None or intent["object"] != "payment_intent":
            return _missing("payment_intent", path["id"], "intent")
        return 200, self._render(intent, params.get("expand"))

    def _capture(self, params: dict[str, Any], path: dict[str, str]) -> Result:
        intent = self.objects.get(path["id"])
        if intent is None or intent["object"] != "payment_intent":
            return _missing("payment_intent", path["id"], "intent")
        if intent["status"] != "requires_capture":
            return _unexpected_state(intent, "captured", "requires_capture")
        amount: int | Result = intent["amount_capturable"]
        if "amount_to_capture" in params:
            amount = _positive_int(params, "amount_to_capture")
            if isinstance(amount, tuple):
                return amount
            if amount > intent["amount_capturable"]:
                return _invalid(
                    "The amount to capture must be less than or equal to the amount capturable.",
                    code="amount_too_large",
                    param="amount_to_capture",
                )
        assert isinstance(amount, int)
        charge = self.objects[intent["latest_charge"]]
        # The released part of the authorization shows as refunded on the charge.
        charge.update(
            captured=True,
            amount_captured=amount,
            amount_refunded=charge["amount"] - amount,
        )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        return 200, self._render(intent, params.get("expand"))

    def _cancel(self, params: dict[str, Any], path: dict[str, str]) -> Result:
        intent = self.objects.get(path["id"])
        if intent is None or intent["object"] != "payment_intent":
            return _missing("payment_intent", path["id"], "intent")
        if intent["status"] not in CANCELABLE:
            return _unexpected_state(intent, "canceled", ", ".join(sorted(CANCELABLE)))
        if intent["status"] == "requires_capture":
            charge = self.objects[intent["latest_charge"]]
            charge.update(amount_refunded=charge["amount"], refunded=True)
        intent.update(
            status="canceled",
            amount_capturable=0,
            canceled_at=int(time.time()),
            cancellation_reason=params.get("cancellation_reason"),
        )
        return 200, self._render(intent, params.get("expand"))

    def _refund(self, params: dict[str, Any], _: dict[str, str]) -> Result:
        intent_id = params.get("payment_intent")
        if intent_id is None:
            return _invalid(
                "Missing required param: payment_intent.",
                code="parameter_missing",
                param="payment_intent",
            )
        intent = self.objects.get(intent_id)
        if intent is None or intent["object"] != "payment_intent":
            return _missing("payment_intent", intent_id, "payment_intent")
        if intent["status"] != "succeeded":
            return _invalid(
                f"This PaymentIntent does not have a successful charge to refund "
                f"(status {intent['status']}).",
                code="payment_intent_unexpected_state",
            )
        charge = self.objects[intent["latest_charge"]]
        refundable = charge["amount"] - charge["amount_refunded"]
        if refundable <= 0:
            return _invalid(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount: int | Result = refundable
        if "amount" in params:
            amount = _positive_int(params, "amount")
            if isinstance(amount, tuple):
                return amount
            if amount > refundable:
                return _invalid(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                    f"({refundable})",
                    code="amount_too_large",
                    param="amount",
                )
        assert isinstance(amount, int)
        reason = params.get("reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            return _invalid(f"Invalid reason: {reason}", param="reason")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        refund = self._new(
            "re",
            {
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "currency": intent["currency"],
                "payment_intent": intent["id"],
                "reason": reason,
                "status": "succeeded",
                "metadata": {},
            },
        )
        return 200, self._render(refund, params.get("expand"))


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _no_stripe_telemetry() -> Iterator[None]:
    # The library otherwise writes ~/.config/stripe/telemetry_id on first request.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stripe, "enable_telemetry", False)
        yield


@pytest.fixture(scope="module")
def _fake_stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.app, lifespan="off", log_level="critical", access_log=False, http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the stand-in Stripe server did not start")
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def fake_stripe(_fake_stripe_server: FakeStripe) -> FakeStripe:
    _fake_stripe_server.reset()
    return _fake_stripe_server


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
async def provider(fake_stripe: FakeStripe) -> AsyncIterator[StripeProvider]:
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


async def test_authorize_then_capture(provider: StripeProvider, fake_stripe: FakeStripe) -> None:
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


async def test_authorize_then_cancel(provider: StripeProvider, fake_stripe: FakeStripe) -> None:
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
    provider: StripeProvider, fake_stripe: FakeStripe, pm: str, code: str
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


async def test_refund_partial_then_full(provider: StripeProvider, fake_stripe: FakeStripe) -> None:
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
    provider: StripeProvider, fake_stripe: FakeStripe
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
    provider: StripeProvider, fake_stripe: FakeStripe
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


async def test_a_500_is_retried_with_the_same_key(
    provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    fake_stripe.fail_next(1, "500")
    key = _key()
    result = await _authorize(provider, key=key)
    assert result.status == "authorized"
    assert [r.idempotency_key for r in fake_stripe.requests] == [key, key]
    assert len(fake_stripe.created_intents) == 1


async def test_a_dropped_response_is_retried_and_replayed(
    provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    # The server creates the intent, then the connection drops before the response:
    # the retry carries the same key and gets the first intent back, not a second one.
    fake_stripe.fail_next(1, "drop")
    key = _key()
    result = await _authorize(provider, key=key)
    assert result.status == "authorized"
    assert [r.idempotency_key for r in fake_stripe.requests] == [key, key]
    assert fake_stripe.created_intents == [result.id]


async def test_persistent_5xx_is_unavailable_after_retries(
    provider: StripeProvider, fake_stripe: FakeStripe
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
    fake_stripe: FakeStripe,
) -> None:
    async with _provider(fake_stripe.base_url, api_key="sk_test_wrong") as provider:
        with pytest.raises(PaymentUnavailable):
            await _authorize(provider)


# -- Stripe: invalid requests -----------------------------------------------------------


async def test_invalid_requests_raise_payment_error(
    provider: StripeProvider, fake_stripe: FakeStripe
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
    provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    with pytest.raises(PaymentError) as excinfo:
        await _authorize(provider, pm="4242424242424242")
    assert excinfo.value.code == "invalid_payment_method"
    with pytest.raises(PaymentError) as excinfo:
        await _authorize(provider, currency="XXY")
    assert excinfo.value.code == "invalid_currency"
    assert fake_stripe.requests == []


# -- Stripe: webhooks -------------------------------------------------------------------


def _sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _event(obj: dict[str, Any], type_: str = "payment_intent.succeeded") -> bytes:
    event = {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


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


async def test_webhook_without_a_configured_secret_is_rejected(fake_stripe: FakeStripe) -> None:
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
