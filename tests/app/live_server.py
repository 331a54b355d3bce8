"""Serve a Flask app on a free 127.0.0.1 port from a background thread, for browser tests."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server


@contextlib.contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Run `app` with werkzeug's threaded server; yield its base URL; stop and close it after."""
    server = make_server("127.0.0.1", 0, app, threaded=True)  # port 0: the OS picks a free one
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_URL"] = base  # what a deployment configures: the address users open
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
