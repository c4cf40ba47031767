"""A tiny HTTP/1.1 keep-alive load generator on asyncio streams.

One connection per concurrent client, each sending the same prebuilt request bytes
back to back and reading the status line, the headers and then ``Content-Length``
body bytes (chunked bodies are decoded too, for robustness). Latency is measured from
just before the write to the last body byte. No third-party HTTP client: the client
should cost as little CPU as possible because it shares the machine with the server.

Every loop is bounded: by a request count, a deadline, or both (whichever comes first),
and every request by a per-request timeout.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

REQUEST_TIMEOUT = 30.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in 0..100 (nan for no values)."""
    if not values:
        return float("nan")
    data = sorted(values)
    rank = max(1, min(len(data), int(-(-q * len(data) // 100))))
    return data[rank - 1]


@dataclass(slots=True)
class Result:
    """Counts and latencies of the measured phase (warm-up requests excluded).

    ``errors`` counts non-200 responses, responses carrying GraphQL ``"errors"``,
    timeouts and connection failures, in the warm-up and measured phases both (an
    error is never hidden by the warm-up). ``first_error`` describes the first one.
    """

    count: int
    seconds: float
    errors: int
    latencies: list[float] = field(repr=False)  # seconds, measured phase only
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile (``q`` in 0..100) in milliseconds."""
        return percentile(self.latencies, q) * 1000.0

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p90_ms(self) -> float:
        return self.percentile_ms(90)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies) * 1000.0 if self.latencies else float("nan")

    def summary(self) -> str:
        return (
            f"{self.count} req in {self.seconds:.2f}s: {self.rps:.1f} req/s, "
            f"p50 {self.p50_ms:.2f} ms, p90 {self.p90_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
            f"max {self.max_ms:.2f} ms, errors {self.errors}"
        )


def build_request(host: str, port: int, path: str, body: bytes, method: str = "POST") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "User-Agent: hub-bench-loadgen\r\n"
        "Accept: application/json\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response: (status, body, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ConnectionError(f"bad status line {status_line[:80]!r}")
    status = int(parts[1])
    length = -1
    chunked = False
    keep_alive = parts[0] == b"HTTP/1.1"
    for line in header_block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            v = value.strip().lower()
            keep_alive = v == b"keep-alive" or (keep_alive and v != b"close")
    if chunked:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await _skip_trailers(reader)
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(chunks), keep_alive
    if length >= 0:
        return status, await reader.readexactly(length), keep_alive
    # No length: the body runs to the end of the connection.
    return status, await reader.read(), False


async def _skip_trailers(reader: asyncio.StreamReader) -> None:
    while (await reader.readuntil(b"\r\n")) != b"\r\n":
        pass


async def request_once(
    host: str,
    port: int,
    path: str,
    body: bytes = b"",
    *,
    method: str = "POST",
    limit_s: float = REQUEST_TIMEOUT,
) -> tuple[int, bytes]:
    """One request on a fresh connection, within ``limit_s`` seconds: (status, body)."""
    async with asyncio.timeout(limit_s):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(build_request(host, port, path, body, method))
            status, data, _ = await read_response(reader)
            return status, data
        finally:
            writer.close()


def check_full(status: int, body: bytes) -> str | None:
    """Thorough check (first response): a 200 whose JSON has no ``errors`` key."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON ({exc}): {body[:300]!r}"
    if isinstance(doc, dict) and "errors" in doc:
        return f"GraphQL errors: {orjson.dumps(doc['errors'])[:500]!r}"
    return None


def check_fast(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    if b'"errors"' in body:
        return f"errors in body: {body[:500]!r}"
    return None


class _State:
    __slots__ = ("checked_first", "errors", "first_error", "latencies", "remaining")

    def __init__(self, remaining: int | None) -> None:
        self.remaining = remaining
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: str | None = None
        self.checked_first = False

    def error(self, what: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what


async def _client(
    host: str,
    port: int,
    raw: bytes,
    state: _State,
    *,
    deadline: float | None,
    quota: int | None,
    record: bool,
) -> None:
    """One keep-alive connection sending ``raw`` until the quota, the shared request
    budget (``state.remaining``) or the deadline runs out."""
    perf = time.perf_counter
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    sent = 0
    failures_in_a_row = 0
    try:
        while True:
            if quota is not None and sent >= quota:
                return
            if deadline is not None and perf() >= deadline:
                return
            if state.remaining is not None:
                if state.remaining <= 0:
                    return
                state.remaining -= 1
            sent += 1
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    assert reader is not None
                    t0 = perf()
                    writer.write(raw)
                    status, body, keep = await read_response(reader)
                    elapsed = perf() - t0
            except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError) as exc:
                state.error(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None
                failures_in_a_row += 1
                if failures_in_a_row >= 20:  # the server is gone: stop, don't spin
                    return
                await asyncio.sleep(0.01)
                continue
            failures_in_a_row = 0
            if not state.checked_first:
                state.checked_first = True
                problem = check_full(status, body)
            else:
                problem = check_fast(status, body)
            if problem is not None:
                state.error(problem)
            if record:
                state.latencies.append(elapsed)
            if not keep:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def run(
    host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    concurrency: int,
    duration: float | None = None,
    requests: int | None = None,
    warmup: int = 50,
    method: str = "POST",
) -> Result:
    """Send ``body`` to ``path`` from ``concurrency`` keep-alive connections.

    Stops after ``requests`` measured requests or ``duration`` seconds, whichever
    comes first (at least one must be given). ``warmup`` requests are sent first,
    spread over the connections, and not measured.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if duration is None and requests is None:
        raise ValueError("pass duration, requests or both")
    raw = build_request(host, port, path, body, method)
    state = _State(None)
    if warmup > 0:
        warm_deadline = time.perf_counter() + 60.0
        per = [
            warmup // concurrency + (1 if i < warmup % concurrency else 0)
            for i in range(concurrency)
        ]
        await asyncio.gather(
            *(
                _client(host, port, raw, state, deadline=warm_deadline, quota=n, record=False)
                for n in per
                if n
            )
        )
    state.remaining = requests
    start = time.perf_counter()
    deadline = start + duration if duration is not None else None
    await asyncio.gather(
        *(
            _client(host, port, raw, state, deadline=deadline, quota=None, record=True)
            for _ in range(concurrency)
        )
    )
    seconds = time.perf_counter() - start
    return Result(
        count=len(state.latencies),
        seconds=seconds,
        errors=state.errors,
        latencies=state.latencies,
        first_error=state.first_error,
    )


def _main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="POST a body to a URL path, keep-alive.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/graphql")
    ap.add_argument("--body", required=True, help="request body (JSON text)")
    ap.add_argument("-c", "--concurrency", type=int, default=10)
    ap.add_argument("-d", "--duration", type=float, default=None)
    ap.add_argument("-n", "--requests", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=50)
    a = ap.parse_args()
    if a.duration is None and a.requests is None:
        a.duration = 10.0
    res = asyncio.run(
        run(
            a.host,
            a.port,
            a.path,
            a.body.encode(),
            concurrency=a.concurrency,
            duration=a.duration,
            requests=a.requests,
            warmup=a.warmup,
        )
    )
    print(res.summary())
    if res.first_error:
        print("first error:", res.first_error)


if __name__ == "__main__":
    _main()
