"""The README's checkout walkthrough, run as written: its shell blocks, in order, in one
``bash`` against ``hub serve --demo`` (a real process, on SQLite in the hub's own
directory as the README says, and on PostgreSQL), then what each step answered is
checked: a storefront with no key pays with the test provider in both channels, a
decline changes nothing, the pickup example warns about a store without the goods and
checks out at one that has them, a till pays cash with an admin key, and the gift card
story ends with a paid order."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.documents import json_objects
from tests.helpers.processes import BACKENDS, HUB, Process, database, free_port, hub_env, wait_ready

README = Path(__file__).resolve().parents[1] / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    start = text.index("### Checkout walkthrough")
    end = text.index("### Gift cards", start)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)
    assert len(blocks) >= 4, blocks
    return "set -euo pipefail\n" + "\n".join(blocks)


def answers(output: str) -> list[Any]:
    """Every JSON document the script printed (curl prints them back to back)."""
    return json_objects(output)


@dataclass
class Demo:
    proc: Process
    env: dict[str, str]
    cwd: Path


@pytest.fixture(params=BACKENDS)
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Demo]:
    with database(request.param, tmp_path, tag="walk") as url:
        env = hub_env(url)
        if request.param == "sqlite":
            env.pop("HUB_DATABASE_URL")  # the README's default: ./hub.db where it runs
        cwd = tmp_path / "shop"
        cwd.mkdir()
        port = free_port()
        proc = Process.spawn(
            [*HUB, "serve", "--demo", "--port", str(port)],
            env,
            tmp_path / "serve.log",
            cwd=cwd,
            url=f"http://127.0.0.1:{port}",
        )
        try:
            wait_ready([proc], timeout=300)
            yield Demo(proc, env, cwd)
        finally:
            proc.stop()


def test_the_readme_walkthrough_runs_as_written(demo: Demo) -> None:
    done = subprocess.run(
        ["bash", "-c", walkthrough()],
        env={**demo.env, "HUB": demo.proc.url},
        cwd=demo.cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    docs = answers(done.stdout)
    assert all("errors" not in d for d in docs), docs
    data = [d["data"] for d in docs if "data" in d]
    checkouts = [d["checkoutComplete"] for d in data if "checkoutComplete" in d]
    errors = [[e["code"] for e in c["userErrors"]] for c in checkouts]
    assert errors == [
        ["PAYMENT_DECLINED"],  # pm_card_chargeDeclined
        [],  # pm_card_visa, the same key
        [],  # eu
        [],  # pickup at SoHo
        [],  # cash at the till
        ["GIFT_CARD_INSUFFICIENT_FUNDS"],  # the 50.00 demo card
        [],  # the issued card
    ], checkouts
    declined, paid, eu, pickup, till, _short, gift = checkouts
    assert "generic_decline" in declined["userErrors"][0]["message"]
    order = paid["order"]
    assert (order["paymentStatus"], order["test"], order["status"]) == ("AUTHORIZED", True, "OPEN")
    assert order["payments"] == [{"provider": "test", "status": "AUTHORIZED", "test": True}]
    assert order["totalPrice"]["currencyCode"] == "USD"
    assert eu["order"]["totalPrice"]["currencyCode"] == "EUR"
    assert eu["order"]["paymentStatus"] == "AUTHORIZED"
    assert pickup["order"]["lineItems"]["nodes"][0]["locationIds"] == ["gid://hub/Location/3"]
    assert pickup["order"]["lineItems"]["nodes"][0]["deliveryType"] == "PICKUP"
    assert till["order"]["paymentStatus"] == "PAID"
    assert till["order"]["payments"] == [{"provider": "cash", "status": "CAPTURED"}]
    assert gift["order"]["paymentStatus"] == "PAID"
    assert gift["order"]["payments"][0]["status"] == "CAPTURED"

    # The pickup example: Brooklyn warns and names SoHo; SoHo has the goods.
    delivery = [d["cartDeliveryUpdate"] for d in data if "cartDeliveryUpdate" in d]
    brooklyn, soho = delivery
    (warning,) = brooklyn["warnings"]
    assert warning["code"] == "MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION"
    assert warning["locations"][0] == {"id": "gid://hub/Location/3", "name": "SoHo Flagship"}
    assert soho["warnings"] == [] and soho["userErrors"] == []
    # The issued card paid the cart: 150.00 less the order's total.
    balances = [d["giftCardBalance"] for d in data if "giftCardBalance" in d]
    total = float(gift["order"]["totalPrice"]["amount"])
    assert float(balances[-1]["balance"]["amount"]) == pytest.approx(150 - total)
