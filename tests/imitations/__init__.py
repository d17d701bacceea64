"""Local imitations of the archives (Perma.cc, the Wayback Machine), served on 127.0.0.1.

Each imitation is a WSGI app built from werkzeug (already installed with pytest-httpserver) and
served by werkzeug's threaded HTTP/1.1 server in a background thread: a real socket, real
redirects, real chunked streaming without Content-Length, as the services send them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port; yields its base URL (no trailing slash)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for the serve loop to notice, 0.5 s by default.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="imitation", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
