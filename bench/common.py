"""What the benchmarks share: starting and stopping hub processes, a database per run,
percentiles, and requests with an API key. Each script in this folder imports it from
beside itself (``sys.path``), as it does ``loadgen``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from loadgen import percentile, request_once

BENCH_DIR = Path(__file__).resolve().parent
PG = os.environ.get("HUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = BENCH_DIR.parent
HOST = "127.0.0.1"

__all__ = ["percentile"]


class BenchError(Exception):
    """Setup failed (database, seeding, a server that won't start)."""


def add_pg_option(ap: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--pg``: the PostgreSQL server the bench database is made on (default
    ``$HUB_BENCH_PG`` or the local server)."""
    ap.add_argument("--pg", default=PG, help=help)


# --------------------------------------------------------------------------- processes


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def hub_command() -> list[str]:
    exe = Path(sys.executable).parent / "hub"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("hub")
    return [found] if found else [sys.executable, "-m", "hub.cli"]


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``cmd`` started in the repository, its output (both streams) written to ``log``."""
    with log.open("wb") as out:
        # A session of its own: a worker tree is stopped as one group, and Ctrl-C in
        # the terminal reaches only this script, which then stops the servers.
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def start(name: str, cmd: list[str], env: dict[str, str], port: int, logdir: Path) -> Server:
    log = logdir / f"{name.replace(' ', '-')}.log"
    return Server(name, port, spawn(cmd, env, log), log)


def start_hub(name: str, env: dict[str, str], logdir: Path, workers: int | None = None) -> Server:
    """``hub serve`` on a free port (``--workers`` when given)."""
    port = free_port()
    cmd = [*hub_command(), "serve", "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return start(name, cmd, env, port, logdir)


def stop(server: Server, grace: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after ``grace``."""
    pgid = server.proc.pid  # its own session: the group id is the pid we started
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    # Workers may outlive the parent for a moment; make sure none is left.
    deadline = time.monotonic() + 3.0
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            break
        time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(timeout=5)


async def wait_ready(
    server: Server, path: str, method: str = "GET", body: bytes = b"", within_s: float = 90.0
) -> None:
    deadline = time.monotonic() + within_s
    last = "no answer"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(
                f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            status, data = await request_once(
                HOST, server.port, path, body, method=method, limit_s=5.0
            )
            if status == 200:
                return
            last = f"HTTP {status}: {data[:200]!r}"
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.2)
    raise BenchError(
        f"{server.name} not ready after {within_s:.0f}s ({last}):\n{server.log_tail()}"
    )


def run_hub(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    """Run a ``hub`` command to completion; its standard output."""
    out = subprocess.run(
        [*hub_command(), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise BenchError(f"`hub {' '.join(args)}` failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    return out.stdout


def create_api_key(env: dict[str, str], scope: str, name: str) -> str:
    """A new API key (``hub apikey create``): the last line it prints."""
    out = run_hub(["apikey", "create", "--scope", scope, "--name", name], env)
    return out.strip().splitlines()[-1].strip()


def graphql_request(port: int, token: str, body: bytes) -> bytes:
    """A keep-alive ``POST /graphql`` carrying an API key, as raw HTTP/1.1 bytes."""
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def bench_database(admin_dsn: str, prefix: str = "hub_bench") -> tuple[str, str, dict[str, str]]:
    """A new database name on ``admin_dsn``'s server, its DSN, and the environment of
    ``hub`` commands on it (quiet logs); the database is made by ``create_database``."""
    dbname = f"{prefix}_{secrets.token_hex(4)}"
    base, _, _ = admin_dsn.rpartition("/")
    dsn = f"{base}/{dbname}"
    env = dict(os.environ)
    env["HUB_DATABASE_URL"] = "postgresql+asyncpg://" + dsn.split("://", 1)[1]
    env["HUB_LOG_LEVEL"] = "WARNING"
    # One bench client sends everything: measure serving, not the per-client budget
    # (HUB_COST_BUCKET_SIZE=0 turns it off; set it to measure with the budget on).
    env.setdefault("HUB_COST_BUCKET_SIZE", "0")
    return dbname, dsn, env


async def _admin(admin_dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(admin_dsn: str, name: str) -> None:
    await _admin(admin_dsn, f'CREATE DATABASE "{name}"')


async def drop_database(admin_dsn: str, name: str) -> None:
    await _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@contextlib.contextmanager
def servers() -> Iterator[list[Server]]:
    running: list[Server] = []
    try:
        yield running
    finally:
        for s in reversed(running):
            stop(s)


def terminate(signum: int, _frame: Any) -> None:
    # `kill <pid>` cleans up like Ctrl-C does: the finally blocks stop the servers.
    raise KeyboardInterrupt(f"signal {signum}")
