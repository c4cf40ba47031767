"""Running ``hub`` as real processes in tests: a database per test (SQLite file or a
PostgreSQL database made and dropped), the ``hub`` command, ``hub serve`` processes.

Under CI (``CI`` set) a backend that isn't there fails the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

HUB = [sys.executable, "-m", "hub.cli"]
BACKENDS = ["sqlite", "postgresql"]


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI, which must run every backend."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run these tests")
    pytest.skip(reason)


REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def reachable_redis() -> str:
    """:data:`REDIS_URL` once Redis answers there (else :func:`unavailable`)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable at {REDIS_URL} ({exc})")
    finally:
        client.close()
    return REDIS_URL


def pg_admin(server: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(go(), 60))


@contextlib.contextmanager
def database(backend: str, tmp: Path, tag: str = "race") -> Iterator[str]:
    """A database URL for ``backend``: a fresh SQLite file, or a PostgreSQL database
    created on ``HUB_TEST_POSTGRES_URL`` and dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'hub.db'}"
        return
    server = os.environ.get("HUB_TEST_POSTGRES_URL")
    if not server:
        unavailable("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
        return  # not reached: unavailable() skips or fails
    name = f"hub_{tag}_{uuid.uuid4().hex[:10]}"
    pg_admin(server, f'CREATE DATABASE "{name}"')
    base = server.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def hub_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``hub`` subprocess: this database, quiet logs, no Redis
    unless ``extra`` sets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_REDIS")}
    env.update({"HUB_DATABASE_URL": database_url, "HUB_LOG_LEVEL": "WARNING", **extra})
    return env


def hub_exit(
    args: list[str], env: dict[str, str], timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``hub <args>`` to completion, whatever its exit status (text output)."""
    return subprocess.run(
        [*HUB, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def hub_run(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``hub <args>`` to completion (asserts it succeeded)."""
    out = hub_exit(args, env, timeout)
    assert out.returncode == 0, f"hub {' '.join(args)} exited {out.returncode}: {out.stderr}"
    return out


def run_hub(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run ``hub <args>`` to completion; its stdout (asserts it succeeded)."""
    return hub_run(args, env, timeout).stdout


async def run_hub_async(args: list[str], env: dict[str, str], within: float = 120) -> str:
    proc = await asyncio.create_subprocess_exec(
        *HUB,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, (
        f"hub {' '.join(args)} exited {proc.returncode}: {out.decode()} {err.decode()}"
    )
    return out.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """A long-running ``hub`` subprocess in its own process group, output in a file."""

    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @classmethod
    def start(cls, args: list[str], env: dict[str, str], log: Path) -> Process:
        return cls.spawn([*HUB, *args], env, log)

    @classmethod
    def spawn(
        cls,
        cmd: list[str],
        env: dict[str, str],
        log: Path,
        *,
        cwd: Path | None = None,
        url: str = "",
    ) -> Process:
        """``cmd`` (any command) started in ``cwd``, its output written to ``log``."""
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() reaches uvicorn's children
            )
        return cls(proc, log, url)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM the group, SIGKILL it after ``timeout`` s; the exit status."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


def serve(env: dict[str, str], log: Path, workers: int = 1) -> Process:
    port = free_port()
    p = Process.start(["serve", "--port", str(port), "--workers", str(workers)], env, log)
    p.url = f"http://127.0.0.1:{port}"
    return p


def wait_ready(procs: list[Process], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending and time.monotonic() < deadline:
        for p in list(pending):
            assert p.proc.poll() is None, f"hub serve exited early:\n{p.output()}"
            try:
                if httpx.get(f"{p.url}/readyz", timeout=2).status_code == 200:
                    pending.remove(p)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        pytest.fail("hub serve did not become ready:\n" + "\n".join(p.output() for p in pending))
