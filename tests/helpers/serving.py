"""Stand-in servers for outside systems (Stripe, a tax service, an ERP, a marketplace,
a webhook receiver, an e-mail webhook): an ASGI app served by uvicorn on a thread, on
127.0.0.1, until the block ends."""

from __future__ import annotations

import socket
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
