"""Stand-in servers for outside systems (Stripe, a tax service, an ERP, a marketplace,
a webhook receiver, an e-mail webhook): an ASGI app served by uvicorn on a thread, on
127.0.0.1, until the block ends."""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def listening_socket(port: int = 0) -> socket.socket:
    """A socket bound to 127.0.0.1:``port`` (0: a free port) for :func:`serve_on`;
    ``SO_REUSEADDR`` so a stand-in can be stopped and started again on its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serve_on(
    sock: socket.socket, app: Any, *, name: str = "stand-in", join: float = 10, **config: Any
) -> Iterator[None]:
    """Serve ``app`` on ``sock`` (uvicorn with ``config``, lifespan off) until the block
    ends; then stop, wait up to ``join`` seconds for the thread and close the socket."""
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=join)
        sock.close()


@contextmanager
def refusing(sock: socket.socket) -> Iterator[None]:
    """While the block runs, every connection to ``sock``'s port is accepted and reset
    at once: a stand-in that is down while its port stays taken. A port merely bound
    (not listening) is not held: another server (another pytest-xdist worker's
    stand-in, bound with ``SO_REUSEADDR``) could take it and answer in its place."""
    sock.listen(64)
    stop = threading.Event()

    def refuse() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([sock], [], [], 0.05)
            if not ready:
                continue
            try:
                conn, _ = sock.accept()
            except OSError:  # another accept won the race, or the fd is non-blocking
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # RST: the client sees a network error at once

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
