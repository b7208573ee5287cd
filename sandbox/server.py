"""The sandbox over HTTP: ``SandboxServer(options).start()`` in tests, ``python -m sandbox`` by hand.

Stdlib ``ThreadingHTTPServer`` rather than aiohttp (installed with Airflow): it needs
no event loop, so a test runs it in a background thread next to any other code
(Scrapy's Twisted reactor included) and stops it synchronously. With HTTP/1.1
keep-alive it serves a few thousand small responses per second on loopback, far
above the limits the sandbox enforces; a thread per connection serves several
crawler processes at once.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.request import Request, urlopen

from sandbox.app import SandboxApp, SandboxOptions
from sandbox.stats import SandboxStats


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Several crawler processes opening connections at once must not be refused.
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], app: SandboxApp, verbose: bool) -> None:
        self.app = app
        self.verbose = verbose
        self.host = address[0]
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer (its timeout, a page over its size limit)
        # is what the abuse routes provoke on purpose: not a server error.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a crawler reuses its connections
    server_version = "SandboxMarket/1"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    # Headers and body go out in two writes; with Nagle on, the body waits for the
    # client's delayed ACK (about 40 ms), capping a connection at ~25 requests/s.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        # Read whole (so the next request on this connection parses); the token endpoint uses it.
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        host = self.headers.get("Host") or f"{self.server.host}:{self.server.server_port}"
        response = self.server.app.handle(method, self.path, headers, f"http://{host}", body)
        if response.delay_seconds:
            time.sleep(response.delay_seconds)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class SandboxServer:
    """The sandbox in a background thread; port 0 picks a free port (see ``url``)."""

    def __init__(
        self, options: SandboxOptions | None = None, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ) -> None:
        self.app = SandboxApp(options or SandboxOptions())
        self._httpd = _HTTPServer((host, port), self.app, verbose)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._httpd.host}:{self.port}"

    @property
    def port(self) -> int:
        return self._httpd.server_port

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted; then call ``close()``."""
        self._httpd.serve_forever()

    def close(self) -> None:
        self._httpd.server_close()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def stats(self, detail: bool = False) -> SandboxStats:
        return self.app.stats(detail)

    def reset(self) -> None:
        self.app.reset()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fetch_stats(base_url: str, detail: bool = False, timeout: float = 10.0) -> SandboxStats:
    """Stats of a sandbox running in another process (``python -m sandbox``)."""
    with urlopen(f"{base_url}/_stats{'?detail=1' if detail else ''}", timeout=timeout) as reply:
        return SandboxStats.model_validate(json.load(reply))


def reset(base_url: str, timeout: float = 10.0) -> None:
    with urlopen(Request(f"{base_url}/_reset", method="POST"), timeout=timeout):
        pass
