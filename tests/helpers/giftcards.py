"""Helpers shared by the tests (moved from tests.schema.test_giftcards)."""

from __future__ import annotations

from typing import Any

from tests.helpers.client import Hub

ISSUE = """mutation($i: GiftCardIssueInput!) { giftCardIssue(input: $i) {
  code giftCard { id last4 status currencyCode balance { amount currencyCode }
                  initialValue { amount } expiresAt customerId }
  userErrors { field code message } } }"""


BALANCE = """query($c: String!) { giftCardBalance(code: $c) {
  balance { amount currencyCode } expiresAt } }"""


async def issue(hub: Hub, amount: str, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    res = await hub.admin(ISSUE, {"i": {"amount": amount, "currencyCode": currency, **extra}})
    assert "errors" not in res, res
    out = res["data"]["giftCardIssue"]
    assert out["userErrors"] == [], out
    return out


async def balance(hub: Hub, code: str, token: str | None = None) -> dict[str, Any] | None:
    res = await hub.gql(BALANCE, {"c": code}, token=token)
    assert "errors" not in res, res
    return res["data"]["giftCardBalance"]
