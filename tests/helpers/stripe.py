"""Helpers shared by the tests (moved from tests.connectors.test_payments)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.helpers.serving import listening_socket, serve_on

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

    def charge_event(self, intent_id: str, type_: str) -> bytes:
        """A ``charge.*`` event (``charge.captured``, ``charge.refunded``) of the intent's
        charge as it stands now, as Stripe sends it when the change happened on its side
        (the dashboard, a dispute), or ``payment_intent.*`` of the intent itself."""
        intent = self.objects[intent_id]
        if type_.startswith("payment_intent."):
            return _event(dict(intent), type_)
        return _event(dict(self.objects[intent["latest_charge"]]), type_)

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


@pytest.fixture(scope="module", autouse=True)
def _no_stripe_telemetry() -> Iterator[None]:
    # The library otherwise writes ~/.config/stripe/telemetry_id on first request.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stripe, "enable_telemetry", False)
        yield


@contextmanager
def serving(fake: FakeStripe, port: int = 0, *, on: socket.socket | None = None) -> Iterator[int]:
    """Serve ``fake`` on 127.0.0.1:``port`` (0: a free port), or on a copy of the socket
    ``on`` (which stays open: a test that stops and restarts the stand-in keeps its port
    meanwhile, see :func:`tests.helpers.serving.refusing`), until the block ends, then
    stop; its port. ``fake`` keeps its objects across restarts."""
    sock = on.dup() if on is not None else listening_socket(port)
    port = sock.getsockname()[1]
    with serve_on(
        sock,
        fake.app,
        name="stand-in Stripe server",
        log_level="critical",
        access_log=False,
        http="h11",
    ):
        yield port


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def _fake_stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    with serving(fake) as port:
        fake.base_url = f"http://127.0.0.1:{port}"
        yield fake


@pytest.fixture
def fake_stripe(_fake_stripe_server: FakeStripe) -> FakeStripe:
    _fake_stripe_server.reset()
    return _fake_stripe_server


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
