"""A local LINE Messaging API (the parts we use), for tests, the benchmark and demos.

It speaks the real protocol (developers.line.biz/en/reference/messaging-api/):

- POST /v2/bot/message/push      {"to": userId, "messages": [1–5]} → 200 {"sentMessages": […]}
- POST /v2/bot/message/multicast {"to": [≤500 userIds], "messages": [1–5]} → 200 {}
- GET  /v2/bot/message/quota              → {"type": "limited", "value": N} | {"type": "none"}
- GET  /v2/bot/message/quota/consumption  → {"totalUsage": N}
- GET  /v2/bot/insight/message/event/aggregation?customAggregationUnit=…&from=yyyyMMdd&to=…
  → {"overview": {uniqueImpression, uniqueClick, uniqueMediaPlayed,
  uniqueMediaPlayed100Percent}, "messages": [], "clicks": []}: the statistics of the messages
  sent with that unit (`customAggregationUnits` of a push or multicast, ≤1 name of letters,
  digits and "_", ≤30 characters) on the days from..to (UTC+9); opens and clicks as a test
  sets them (`state.unit_set(unit, impressions=…, clicks=…)`), at most the unit's recipients
  in the range, withheld (null) under 20 users as LINE does (LINE's per-unit overview has no
  delivered count); 400 for a bad unit name or dates, or a range over 30 days.
  `state.unit_recipients(unit)` says how many recipients were sent under a unit.

`Authorization: Bearer <token>` is checked (401 otherwise). `X-Line-Retry-Key` (a UUID) makes a
send happen once: a repeated key answers 409 with `x-line-accepted-request-id` and delivers
nothing again. Every answer carries `x-line-request-id`. A message counts one per recipient
against the monthly quota; over the limit: 429 "You have reached your monthly limit.".

Knobs: `state.fail_next(status, times=, retry_after=, body=)` makes the next sends fail,
`state.fail_insight_next(…)` the same for the next insight (per unit) reads;
`state.quota_limit` (None = unlimited). `LineState.handle` is the whole behaviour and may be
overridden (a subclass can hold calls to simulate a slow provider or a worker killed mid-call).

CLI (bench, demo): python -m tests.campaigns.servers.line --port 8901 [--token T]
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from tests.campaigns.servers.base import (
    LocalHTTPServer,
    QuietHandler,
    lowered_headers,
    read_body,
    send,
)

DEFAULT_TOKEN = "test-line-token"
PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
QUOTA = "/v2/bot/message/quota"
CONSUMPTION = "/v2/bot/message/quota/consumption"
INSIGHT_UNIT = "/v2/bot/insight/message/event/aggregation"
UNIT_NAME = re.compile(r"^[A-Za-z0-9_]{1,30}$")
LINE_TZ = timezone(timedelta(hours=9))  # the days of `from` and `to`
INSIGHT_MIN_USERS = 20  # LINE withholds a figure about fewer users than this
MONTHLY_LIMIT = "You have reached your monthly limit."
RATE_LIMIT = "The API rate limit has been exceeded. Try again later."


def _day(text: str):
    """A yyyyMMdd day (UTC+9), ValueError otherwise."""
    if len(text) != 8 or not text.isdigit():
        raise ValueError(text)
    return datetime.strptime(text + "+0900", "%Y%m%d%z").date()


@dataclass
class LineRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int = 0
    query: str = ""

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: float | None
    body: dict | None


@dataclass
class LineState:
    token: str = DEFAULT_TOKEN
    quota_limit: int | None = None  # messages a month; None = unlimited ("type": "none")
    used: int = 0
    requests: list[LineRequest] = field(default_factory=list)
    delivered: list[tuple[str, dict, str]] = field(default_factory=list)  # (user, message, key)
    record_requests: bool = True  # the benchmark turns it off to keep memory flat
    accepted: dict[str, str] = field(default_factory=dict)  # retry key → request id
    failures: list[_Failure] = field(default_factory=list)
    insight_failures: list[_Failure] = field(default_factory=list)
    # (unit, recipients, unix time) of every accepted send that carried a unit
    unit_sends: list[tuple[str, int, int]] = field(default_factory=list)
    insight_figures: dict[str, dict] = field(default_factory=dict)  # unit → opens, clicks
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- knobs and reads -------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        body: dict | None = None,
    ) -> None:
        """The next `times` sends (push or multicast) answer `status` and deliver nothing."""
        with self.lock:
            self.failures.append(_Failure(status, times, retry_after, body))

    def fail_insight_next(
        self, status: int, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        """The next `times` insight reads answer `status`."""
        with self.lock:
            self.insight_failures.append(_Failure(status, times, retry_after, None))

    def unit_set(
        self,
        unit: str,
        *,
        impressions: int | None = None,
        clicks: int | None = None,
        media_played: int | None = None,
    ) -> None:
        """What LINE would have counted for a unit: users who opened its messages, who tapped."""
        with self.lock:
            self.insight_figures[unit] = {
                "uniqueImpression": impressions,
                "uniqueClick": clicks,
                "uniqueMediaPlayed": media_played,
            }

    def insight_reads(self) -> list[LineRequest]:
        with self.lock:
            return [r for r in self.requests if r.path == INSIGHT_UNIT]

    def unit_recipients(self, unit: str) -> int:
        with self.lock:
            return sum(n for name, n, _ in self.unit_sends if name == unit)

    def count_by_user(self) -> Counter:
        with self.lock:
            return Counter(user for user, _, _ in self.delivered)

    def sends(self) -> list[LineRequest]:
        with self.lock:
            return [r for r in self.requests if r.path in (PUSH, MULTICAST)]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.delivered.clear()
            self.accepted.clear()
            self.failures.clear()
            self.insight_failures.clear()
            self.unit_sends.clear()
            self.insight_figures.clear()
            self.used = 0

    # -- the protocol ------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One request → (status, headers, body). `headers` has lower-cased names; `path` may
        carry a query string."""
        path, _, query = path.partition("?")
        request = LineRequest(method, path, headers, body, query=query)
        status, out_headers, payload = self._answer(request)
        request.status = status
        if self.record_requests:
            with self.lock:
                self.requests.append(request)
        out_headers.setdefault("x-line-request-id", str(uuid.uuid4()))
        out_headers["Content-Type"] = "application/json"
        return status, out_headers, json.dumps(payload).encode()

    def _answer(self, request: LineRequest) -> tuple[int, dict[str, str], dict]:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return (
                401,
                {},
                {
                    "message": "Authentication failed. Confirm that the access token "
                    "in the authorization header is valid."
                },
            )
        if request.method == "GET" and request.path == QUOTA:
            with self.lock:
                if self.quota_limit is None:
                    return 200, {}, {"type": "none"}
                return 200, {}, {"type": "limited", "value": self.quota_limit}
        if request.method == "GET" and request.path == CONSUMPTION:
            with self.lock:
                return 200, {}, {"totalUsage": self.used}
        if request.method == "POST" and request.path in (PUSH, MULTICAST):
            return self._send(request)
        if request.method == "GET" and request.path == INSIGHT_UNIT:
            return self._insight(request)
        return 404, {}, {"message": "Not found"}

    def _insight(self, request: LineRequest) -> tuple[int, dict[str, str], dict]:
        query = parse_qs(request.query)
        unit = (query.get("customAggregationUnit") or [""])[0]
        try:
            first = _day((query.get("from") or [""])[0])
            last = _day((query.get("to") or [""])[0])
        except ValueError:
            first = last = None
        with self.lock:
            if self.insight_failures:
                failure = self.insight_failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self.insight_failures.pop(0)
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = f"{failure.retry_after:g}"
                words = RATE_LIMIT if failure.status == 429 else "An error occurred"
                return failure.status, headers, {"message": words}
            if not UNIT_NAME.match(unit):
                return 400, {}, {"message": "Invalid customAggregationUnit"}
            if first is None or last is None or not first <= last <= first + timedelta(days=30):
                return 400, {}, {"message": "Invalid from or to"}
            recipients = sum(
                n
                for name, n, at in self.unit_sends
                if name == unit and first <= datetime.fromtimestamp(at, LINE_TZ).date() <= last
            )
            figures = dict(self.insight_figures.get(unit) or {})

        def counted(n):
            # LINE counts users who got the unit's messages in the range; under 20: withheld.
            if n is None:
                return None
            n = min(n, recipients)
            return n if n >= INSIGHT_MIN_USERS else None

        overview = {
            "uniqueImpression": counted(figures.get("uniqueImpression")),
            "uniqueClick": counted(figures.get("uniqueClick")),
            "uniqueMediaPlayed": counted(figures.get("uniqueMediaPlayed")),
            "uniqueMediaPlayed100Percent": None,
        }
        return 200, {}, {"overview": overview, "messages": [], "clicks": []}

    def _send(self, request: LineRequest) -> tuple[int, dict[str, str], dict]:
        try:
            data = json.loads(request.body)
        except ValueError:
            return (
                400,
                {},
                {
                    "message": "The request body has 1 error(s)",
                    "details": [{"message": "Invalid JSON", "property": ""}],
                },
            )
        key = request.headers.get("x-line-retry-key", "")
        if key:
            try:
                uuid.UUID(key)
            except ValueError:
                return (
                    400,
                    {},
                    {"message": "The value for the 'X-Line-Retry-Key' header is invalid"},
                )
        multicast = request.path == MULTICAST
        to = data.get("to") if isinstance(data, dict) else None
        messages = data.get("messages") if isinstance(data, dict) else None
        details = []
        if multicast and (not isinstance(to, list) or not 1 <= len(to) <= 500):
            details.append({"message": "Size must be between 1 and 500", "property": "to"})
        if not multicast and not isinstance(to, str):
            details.append({"message": "Must be a string", "property": "to"})
        units = data.get("customAggregationUnits") if isinstance(data, dict) else None
        if units is not None and (
            not isinstance(units, list)
            or len(units) > 1
            or not all(isinstance(u, str) and UNIT_NAME.match(u) for u in units)
        ):
            details.append(
                {"message": "Invalid unit name (at most 1)", "property": "customAggregationUnits"}
            )
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            details.append({"message": "Size must be between 1 and 5", "property": "messages"})
        else:
            for index, message in enumerate(messages):
                if not isinstance(message, dict) or "type" not in message:
                    details.append(
                        {"message": "Must be specified", "property": f"messages[{index}].type"}
                    )
                elif message["type"] == "text" and not (0 < len(message.get("text") or "") <= 5000):
                    details.append(
                        {
                            "message": "Length must be between 1 and 5000",
                            "property": f"messages[{index}].text",
                        }
                    )
        if details:
            return (
                400,
                {},
                {"message": f"The request body has {len(details)} error(s)", "details": details},
            )
        recipients = to if multicast else [to]
        with self.lock:
            if key and key in self.accepted:
                return (
                    409,
                    {"x-line-accepted-request-id": self.accepted[key]},
                    {"message": "The retry key is already accepted"},
                )
            if self.failures:
                failure = self.failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.pop(0)
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = f"{failure.retry_after:g}"
                body = failure.body or {
                    "message": RATE_LIMIT if failure.status == 429 else "An error occurred"
                }
                return failure.status, headers, body
            if self.quota_limit is not None and self.used + len(recipients) > self.quota_limit:
                return 429, {}, {"message": MONTHLY_LIMIT}
            request_id = str(uuid.uuid4())
            if key:
                self.accepted[key] = request_id
            if units:
                self.unit_sends.append((units[0], len(recipients), int(time.time())))
            self.used += len(recipients)
            self.delivered.extend(
                (user, message, key) for user in recipients for message in messages
            )
        if multicast:
            return 200, {"x-line-request-id": request_id}, {}
        sent = [
            {"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in messages
        ]
        return 200, {"x-line-request-id": request_id}, {"sentMessages": sent}


def _handler_for(state: LineState) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        # Headers and body are two writes: with Nagle on, the body waits for the client's
        # delayed ACK (40 ms a request on Linux).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            status, out_headers, payload = state.handle(
                self.command, self.path, lowered_headers(self), read_body(self)
            )
            send(self, status, payload, content_type=None, headers=out_headers)

        do_GET = _serve
        do_POST = _serve

    return Handler


class LineServer:
    """`with LineServer() as line: …line.url…, line.state…` (127.0.0.1, a free port)."""

    def __init__(self, state: LineState | None = None, *, port: int = 0):
        self.state = state if state is not None else LineState()
        self.httpd = LocalHTTPServer(_handler_for(self.state), port)

    @property
    def url(self) -> str:
        return self.httpd.url

    def start(self) -> LineServer:
        self.httpd.__enter__()
        return self

    def stop(self) -> None:
        self.httpd.__exit__()

    def __enter__(self) -> LineServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local LINE Messaging API.")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--quota", type=int, default=None, help="monthly limit (none: unlimited)")
    args = parser.parse_args()
    state = LineState(token=args.token, quota_limit=args.quota, record_requests=False)
    server = LineServer(state, port=args.port)
    print(f"LINE API on {server.url} (token {args.token!r}); Ctrl-C stops it", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        print(f"delivered {len(state.delivered)} messages", flush=True)


if __name__ == "__main__":
    main()
