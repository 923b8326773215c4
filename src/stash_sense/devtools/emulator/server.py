"""Serving an emulator app: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def _server(app: Any, sock_or_host: socket.socket | str, port: int, log_level: str) -> uvicorn.Server:
    host = sock_or_host if isinstance(sock_or_host, str) else sock_or_host.getsockname()[0]
    # uvicorn's access log prints query strings, which carry ?apikey=: the apps log their own
    # key-free access lines instead.
    # The plain asyncio loop, never uvloop: uvloop's subprocess spawn forks and runs Python code
    # in the child of a threaded process, which can deadlock before exec (see plugins.py).
    # WebSockets (sans-I/O websockets): Stash's UI takes its GraphQL subscriptions over one.
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on", ws="websockets-sansio",
        loop="asyncio",
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def run_in_thread(app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` on a free port of ``host`` in a daemon thread; yields the base URL
    (``http://127.0.0.1:PORT``) and shuts the server down (lifespan included) on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = _server(app, sock, port, "warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"emulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server on {host}:{port} failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server on {host}:{port} did not start within {startup_timeout:.0f} s")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def serve_forever(app: Any, *, host: str, port: int, log_level: str = "info") -> None:
    """Run ``app`` in the foreground until interrupted (Ctrl-C)."""
    _server(app, host, port, log_level).run()
