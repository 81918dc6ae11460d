"""A live uvicorn server in a thread, on a free port of 127.0.0.1, for the web tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from kremlinology.web.app import create_app
from kremlinology.web.service import Explorer, Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(settings: Settings, startup_s: float = 20.0) -> Iterator[tuple[str, Explorer]]:
    """Serve the explorer on 127.0.0.1 in a thread; yield (base URL, explorer); stop it after."""
    explorer = Explorer(settings)
    port = free_port()
    config = uvicorn.Config(
        create_app(explorer=explorer), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    assert httpx.get(f"{base}/api/health", timeout=5).status_code == 200
    try:
        yield base, explorer
    finally:
        server.should_exit = True
        thread.join(15)
        explorer.close()
