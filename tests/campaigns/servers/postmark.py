"""A Postmark-compatible send API on 127.0.0.1 (POST /email), for the e-mail channel through
django-anymail's Postmark backend (ANYMAIL POSTMARK_API_URL points here).

Answers as Postmark documents: 200 {"To", "SubmittedAt", "MessageID", "ErrorCode": 0,
"Message": "OK"}; for an address in `inactive`, 422 with ErrorCode 406 (a recipient marked
inactive after a hard bounce or a complaint); `fail_status` answers every call with that HTTP
status (500, 429) and an error body; `delay` seconds are waited (after the message is taken)
before answering, as an ESP that queued the message but whose answer never reached us.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PostmarkServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # {"path", "headers", "json"}
        self.inactive: set[str] = set()
        self.fail_status: int | None = None
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = json.loads(body or b"{}")
                with server.lock:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "json": data}
                    )
                    inactive = set(server.inactive)
                    fail = server.fail_status
                    delay = server.delay
                if delay:
                    time.sleep(delay)
                if fail is not None:
                    return self._answer(fail, {"ErrorCode": 100, "Message": "Server error"})
                to = data.get("To", "")
                if to.lower() in inactive:
                    return self._answer(
                        422,
                        {
                            "ErrorCode": 406,
                            "Message": "You tried to send to a recipient that has been marked "
                            f"as inactive.\nFound inactive addresses: {to.lower()}.\n"
                            "Inactive recipients are ones that have generated a hard bounce "
                            "or a spam complaint. ",
                        },
                    )
                return self._answer(
                    200,
                    {
                        "To": to,
                        "SubmittedAt": "2026-12-07T10:00:00.0000000+08:00",
                        "MessageID": str(uuid.uuid4()),
                        "ErrorCode": 0,
                        "Message": "OK",
                    },
                )

            def _answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped waiting
                    pass

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> PostmarkServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
