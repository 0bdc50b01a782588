"""What every local provider server here shares: an HTTP server on 127.0.0.1 (port 0 by
default) served from a daemon thread, the request body read and the answer written, a queue of
failures to serve next, and the loop `python -m tests.campaigns.servers.<provider>` runs."""

import argparse
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def lowered_headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    return {k.lower(): v for k, v in handler.headers.items()}


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    *,
    content_type: str | None,
    headers: dict | None = None,
) -> None:
    """Write an answer: status, Content-Type (when given), Content-Length, extra headers."""
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet in tests
        pass


class LocalHTTPServer(ThreadingHTTPServer):
    """A server that is its own context manager: `with TwilioServer() as server:`."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class ServedInThread:
    """start/stop/url for a server object (a dataclass with host and port) that builds its
    handler class with `handler_class()`."""

    host: str
    port: int
    httpd: ThreadingHTTPServer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self):
        self.httpd = ThreadingHTTPServer((self.host, self.port), self.handler_class())
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class FailNext:
    """`fail_next(status, retry_after=…, times=…)`: the next sends get that status."""

    def _init_failures(self) -> None:
        self._failures: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()

    def fail_next(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def _next_failure(self) -> tuple[int, str | None] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None


def echo_until_interrupted(server, describe: Callable[[object], str]) -> None:
    """Print each request as it arrives (run by hand), until ^C; then stop the server."""
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for record in server.requests[seen:]:
                print(describe(record))
            seen = len(server.requests)
    except KeyboardInterrupt:
        server.stop()


def serve_until_interrupted(server: ThreadingHTTPServer) -> None:
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


def use_sms_provider(settings, provider: str, backend: str, **values) -> None:
    """Point the SMS channel at `backend` (a CAMPAIGN_BACKENDS path), with its settings."""
    settings.SMS_PROVIDER = provider
    for name, value in values.items():
        setattr(settings, name, value)
    settings.CAMPAIGN_BACKENDS = {**settings.CAMPAIGN_BACKENDS, "sms": backend}


def run_by_hand(
    make_server: Callable[[int], ThreadingHTTPServer],
    *,
    doc: str,
    default_port: int,
    settings: Callable[[ThreadingHTTPServer], dict[str, str]],
) -> None:
    """`python -m tests.campaigns.servers.<provider> --port N`: print the settings that point
    at the server, then serve until ^C."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--port", type=int, default=default_port)
    server = make_server(parser.parse_args().port)
    for name, value in settings(server).items():
        print(f"{name}={value}", flush=True)
    serve_until_interrupted(server)
