"""Fan-out of stock changes to websocket subscribers across two hub processes.

    python bench/fanout.py [--subscribers 10000] [--changes 50] [--bus redis|postgresql]

Creates a PostgreSQL database (dropped at the end), loads the demo catalog, starts two
``hub serve`` processes sharing it and one Redis (``HUB_REDIS_URL``, a unique
``HUB_REDIS_PREFIX`` per run; with ``--bus postgresql`` no Redis: the processes pass
events through PostgreSQL LISTEN/NOTIFY), and opens ``--subscribers`` websockets
(graphql-transport-ws, admin key) split evenly between them, each subscribed with the
contract ``InventoryChanged`` document to one hot variant. Then it makes ``--changes``
stock adjustments of that variant, one at a time over HTTP, alternating between the
processes, and for each one measures when the LAST subscriber received it:

- since the request was sent (the client clock, just before writing the mutation);
- since the change's ``occurredAt`` (the level's ``updated_at``, stamped inside the
  transaction just before it commits; wall clocks of one machine).

It prints p50/p99 of both over the changes against the target (10,000 subscribers:
p99 < 250 ms since the request was sent), and how many subscribers received every
change (must be all).

Needs PostgreSQL (``--pg``, default ``$HUB_BENCH_PG`` or
``postgresql://postgres@127.0.0.1:5432/postgres``; the role must be allowed to create
databases) and, with the Redis bus, Redis (``--redis``, default ``$HUB_REDIS_URL`` or
``redis://127.0.0.1:6379/0``). Exit status: 0 when the run completed and every
subscriber got every change (whatever the latency verdict), 1 when some change was
missed, 2 when setup failed, 130 when interrupted. Every wait is bounded; the servers
are stopped and the database dropped on every exit path.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import resource
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    HOST,
    REPO,
    BenchError,
    Server,
    add_pg_option,
    create_database,
    drop_database,
    loop_factory,
    percentile,
    run_hub,
    servers,
    start_hub,
    terminate,
    wait_ready,
)

CONTRACT = REPO.parent / "shared" / "contract" / "operations" / "InventoryChanged.graphql"
TARGET_P99_MS = 250.0
EVENT_TIMEOUT_S = 10.0  # a change not seen by every subscriber by then counts as missed


async def subscribers(http: httpx.AsyncClient, server: Server) -> int:
    resp = await http.get(f"{server.url}/readyz", timeout=5)
    return int(resp.json().get("subscribers", -1))


# --------------------------------------------------------------------------- clients


def _frame(data: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 5.2), FIN set."""
    n = len(data)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(data))


class Subscriber(asyncio.Protocol):
    """One websocket subscriber, kept as lean as a load generator should be: a plain
    asyncio protocol that does the RFC 6455 handshake and reads unfragmented server
    frames itself, so that 1,000 of them in this process cost little next to the hub
    (the ``websockets`` client spends several times more per message). Each text frame
    is parsed as a graphql-transport-ws message and timed on arrival."""

    def __init__(self, on_event: Callable[[int, str], None]) -> None:
        self.on_event = on_event
        self.got: dict[int, tuple[float, float]] = {}  # onHand -> (perf, wall)
        self.error: str | None = None
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # before subscribing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        if self.error is None:
            self.error = f"closed: {exc}"

    def send(self, message: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.write(_frame(orjson.dumps(message)))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(b"", 0x8))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        perf, wall = time.perf_counter(), time.time()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.handshake.set_exception(BenchError(f"no upgrade: {head[:200]!r}"))
                return
            self.upgraded = True
            self.handshake.set_result(None)
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, i = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, i = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, i = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < i + n:
                return
            payload = bytes(buf[i : i + n])
            del buf[: i + n]
            opcode = b0 & 0x0F
            if not b0 & 0x80 or b1 & 0x80:
                self.error = "fragmented or masked server frame"
            elif opcode == 0x1:
                self._message(orjson.loads(payload), perf, wall)
            elif opcode == 0x9:  # ping
                assert self.transport is not None
                self.transport.write(_frame(payload, 0xA))
            elif opcode == 0x8:
                self.error = self.error or f"server closed: {payload[2:]!r}"

    def _message(self, msg: dict[str, Any], perf: float, wall: float) -> None:
        kind = msg.get("type")
        if kind == "next":
            change = (msg["payload"].get("data") or {}).get("inventoryChanged")
            if change is None:
                self.error = f"unexpected payload: {msg['payload']}"
                return
            on_hand = change["level"]["onHand"]
            self.got[on_hand] = (perf, wall)
            self.on_event(on_hand, change["occurredAt"])
        elif kind == "ping":
            self.send({"type": "pong"})
        elif kind in ("error", "complete"):
            self.error = f"{kind}: {msg.get('payload')}"
        else:
            self.inbox.put_nowait(msg)


async def open_subscriber(
    port: int, token: str, document: str, variant: str, on_event: Callable[[int, str], None]
) -> Subscriber:
    loop = asyncio.get_running_loop()
    _, sub = await loop.create_connection(lambda: Subscriber(on_event), HOST, port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        assert sub.transport is not None
        sub.transport.write(
            (
                f"GET /graphql HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )
        await asyncio.wait_for(sub.handshake, 30)
        sub.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        ack = await asyncio.wait_for(sub.inbox.get(), 30)
        if ack.get("type") != "connection_ack":
            raise BenchError(f"connection refused: {ack}")
        sub.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": document, "variables": {"variantIds": [variant]}},
            }
        )
    except BaseException:
        sub.close()
        raise
    return sub


# --------------------------------------------------------------------------- the run


async def gql(http: httpx.AsyncClient, server: Server, token: str, query: str, **vars: Any) -> Any:
    resp = await http.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": vars},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    body = resp.json()
    if resp.status_code != 200 or body.get("errors"):
        raise BenchError(f"GraphQL error from {server.name}: {resp.text[:500]}")
    return body["data"]


ADJUST = """mutation($i: InventoryAdjustInput!) { inventoryAdjust(input: $i) {
  level { onHand } userErrors { code message } } }"""


async def hot_variant(http: httpx.AsyncClient, server: Server, token: str) -> tuple[str, str]:
    """A seeded variant and a location of our own (so nothing else moves its stock)."""
    data = await gql(
        http,
        server,
        token,
        "{ products(first: 1) { nodes { variants(first: 1) { nodes { id } } } } }",
    )
    variant = data["products"]["nodes"][0]["variants"]["nodes"][0]["id"]
    data = await gql(
        http,
        server,
        token,
        """mutation($i: LocationInput!) { locationCreate(input: $i) {
        location { id } userErrors { code message } } }""",
        i={
            "handle": f"fanout-{secrets.token_hex(3)}",
            "name": "Fan-out bench",
            "kind": "WAREHOUSE",
            "countryCode": "US",
            "channels": ["web"],
        },
    )
    payload = data["locationCreate"]
    if payload["userErrors"]:
        raise BenchError(f"locationCreate: {payload['userErrors']}")
    return variant, payload["location"]["id"]


async def bench(
    args: argparse.Namespace, env: dict[str, str], logdir: Path, running: list[Server]
) -> int:
    document = CONTRACT.read_text()
    async with httpx.AsyncClient() as http:
        print("seeding the demo catalog ...", flush=True)
        print("  " + run_hub(["seed", "--demo", "--products", "60"], env).strip(), flush=True)
        token = run_hub(["apikey", "create", "--scope", "admin", "--name", "fanout"], env).strip()
        for name in ("hub-a", "hub-b"):
            running.append(start_hub(name, env, logdir))
        for srv in running:
            await wait_ready(srv, "/readyz")
        a, b = running
        variant, location = await hot_variant(http, a, token)

        # ------------------------------------------------------------ subscribers
        arrivals: dict[int, int] = {}  # onHand of a change -> subscribers that got it
        occurred: dict[int, float] = {}  # onHand of a change -> its occurredAt (Unix time)
        complete: dict[int, asyncio.Event] = {}

        def on_event(on_hand: int, occurred_at: str) -> None:
            if on_hand not in occurred:
                occurred[on_hand] = datetime.fromisoformat(occurred_at).timestamp()
            arrivals[on_hand] = arrivals.get(on_hand, 0) + 1
            if arrivals[on_hand] == args.subscribers and on_hand in complete:
                complete[on_hand].set()

        gate = asyncio.Semaphore(args.connect_concurrency)
        subs: list[Subscriber] = []

        async def connect(i: int) -> None:
            srv = running[i % 2]
            async with gate:
                subs.append(await open_subscriber(srv.port, token, document, variant, on_event))

        t = time.perf_counter()
        print(f"opening {args.subscribers} subscriptions ...", flush=True)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(connect(i) for i in range(args.subscribers))), 300
            )
            deadline = time.monotonic() + 60
            while True:
                live = [await subscribers(http, s) for s in running]
                if sum(live) >= args.subscribers:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"only {live} bus subscribers after 60 s")
                await asyncio.sleep(0.2)
            print(
                f"  {len(subs)} live ({live[0]} on {a.name}, {live[1]} on {b.name}) "
                f"in {time.perf_counter() - t:.1f} s",
                flush=True,
            )

            # -------------------------------------------------------------- changes
            since_sent: list[float] = []
            since_occurred: list[float] = []
            responses: list[float] = []
            missed = 0
            for i in range(args.changes):
                srv = running[i % 2]
                t0 = time.perf_counter()
                data = await gql(
                    http,
                    srv,
                    token,
                    ADJUST,
                    i={
                        "variantId": variant,
                        "locationId": location,
                        "delta": 1,
                        "reason": "received",
                    },
                )
                responses.append(time.perf_counter() - t0)
                out = data["inventoryAdjust"]
                if out["userErrors"]:
                    raise BenchError(f"inventoryAdjust: {out['userErrors']}")
                on_hand = out["level"]["onHand"]
                done = complete.setdefault(on_hand, asyncio.Event())
                if arrivals.get(on_hand, 0) >= args.subscribers:
                    done.set()
                try:
                    await asyncio.wait_for(done.wait(), EVENT_TIMEOUT_S)
                except TimeoutError:
                    missed += 1
                    print(f"  change {i + 1}: only {arrivals.get(on_hand, 0)} got it", flush=True)
                    continue
                last_perf = max(s.got[on_hand][0] for s in subs)
                last_wall = max(s.got[on_hand][1] for s in subs)
                since_sent.append(last_perf - t0)
                since_occurred.append(last_wall - occurred[on_hand])
                await asyncio.sleep(args.pause_ms / 1000)

            everything = sum(1 for s in subs if len(s.got) >= args.changes and s.error is None)
            errors = [s.error for s in subs if s.error]
        finally:
            await close_all(subs)

        # ------------------------------------------------------------------ report
        p50, p99 = percentile(since_sent, 50) * 1000, percentile(since_sent, 99) * 1000
        o50, o99 = percentile(since_occurred, 50) * 1000, percentile(since_occurred, 99) * 1000
        r50, r99 = percentile(responses, 50) * 1000, percentile(responses, 99) * 1000
        verdict = "PASS" if since_sent and p99 < TARGET_P99_MS and not missed else "FAIL"
        print()
        print(
            f"{args.subscribers} subscribers on 2 processes, {args.changes} changes "
            f"(PostgreSQL, bus: {'Redis' if args.bus == 'redis' else 'LISTEN/NOTIFY'})"
        )
        print(f"  {'figure':<44} {'p50':>9} {'p99':>9}   target")
        p90, worst = percentile(since_sent, 90) * 1000, max(since_sent, default=0) * 1000
        print(f"  {'mutation response (HTTP round trip)':<44} {r50:>7.1f}ms {r99:>7.1f}ms   -")
        print(
            f"  {'last subscriber, since request sent':<44} {p50:>7.1f}ms {p99:>7.1f}ms   "
            f"p99 < {TARGET_P99_MS:.0f} ms  {verdict}"
        )
        print(f"  {'last subscriber, since occurredAt':<44} {o50:>7.1f}ms {o99:>7.1f}ms   -")
        print(f"  (since request sent: p90 {p90:.1f} ms, worst {worst:.1f} ms)")
        print(
            f"  subscribers that got every change: {everything}/{len(subs)}"
            f"  {'PASS' if everything == args.subscribers else 'FAIL'}"
            f"; changes missed by someone: {missed}"
        )
        if errors:
            print(f"  subscriber errors: {len(errors)}, first: {errors[0]}")
        return 0 if everything == args.subscribers and not missed else 1


async def close_all(subs: list[Subscriber]) -> None:
    for s in subs:
        with contextlib.suppress(Exception):
            s.close()
    await asyncio.sleep(0.2)  # let the closes go out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subscribers", type=int, default=10000)
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--connect-concurrency", type=int, default=50)
    ap.add_argument("--pause-ms", type=float, default=20.0, help="pause between changes")
    add_pg_option(ap)
    ap.add_argument("--redis", default=os.environ.get("HUB_REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument(
        "--bus",
        choices=["redis", "postgresql"],
        default="redis",
        help="carry events between the processes through Redis or PostgreSQL LISTEN/NOTIFY",
    )
    args = ap.parse_args(argv)
    if args.subscribers < 2 or args.changes < 1:
        ap.error("need at least 2 subscribers and 1 change")
    return args


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, terminate)
    raise_fd_limit(args.subscribers * 2 + 256)
    if not CONTRACT.exists():
        print(f"fanout: no subscription document at {CONTRACT}", file=sys.stderr)
        return 2
    dbname = f"hub_fanout_{secrets.token_hex(4)}"
    base = args.pg.rpartition("/")[0]
    env = dict(os.environ)
    env["HUB_DATABASE_URL"] = "postgresql+asyncpg://" + f"{base}/{dbname}".split("://", 1)[1]
    if args.bus == "redis":
        env["HUB_REDIS_URL"] = args.redis
        env["HUB_REDIS_PREFIX"] = f"fanout-{secrets.token_hex(4)}"
    else:
        env.pop("HUB_REDIS_URL", None)
    env["HUB_LOG_LEVEL"] = "WARNING"
    env["PYTHONUNBUFFERED"] = "1"
    created = False
    with (
        asyncio.Runner(loop_factory=loop_factory()) as runner,
        tempfile.TemporaryDirectory(prefix="hub-fanout-") as tmp,
    ):
        try:
            runner.run(create_database(args.pg, dbname))
            created = True
            with servers() as running:
                return runner.run(bench(args, env, Path(tmp), running))
        except BenchError as exc:
            print(f"fanout: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("fanout: interrupted", file=sys.stderr)
            return 130
        finally:
            if created:
                with contextlib.suppress(Exception):
                    runner.run(drop_database(args.pg, dbname))


if __name__ == "__main__":
    sys.exit(main())
