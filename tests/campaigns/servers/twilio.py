"""A local server that speaks Twilio's Messages API (what campaigns.backends.twilio calls).

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   (HTTP Basic AccountSid:AuthToken)
    form: To, Body, and From or MessagingServiceSid        → 201 {"sid": "SM…", …}

Errors answer as Twilio does, {"code", "message", "more_info", "status"}: 401/20003 for wrong
credentials, 400/21211 for a number that is not E.164, 400/21610 for a number that replied
STOP (`unsubscribed`), 400/21614 for `not_mobile`. Knobs: `answers` (a queue of (status, body,
headers) served before anything else, e.g. a 429 with Retry-After or a 503), `stall_seconds`
(accept, then answer late: the client's read timeout).

    python -m tests.campaigns.servers.twilio --port 8903
"""

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest

from tests.campaigns.servers.base import (
    LocalHTTPServer,
    QuietHandler,
    read_body,
    run_by_hand,
    send,
    use_sms_provider,
)

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "local-twilio-token"
PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@dataclass
class Recorded:
    path: str
    headers: dict
    body: bytes
    form: dict  # name → value (the last one)
    status: int


@dataclass
class TwilioState:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    delivered: list[dict] = field(default_factory=list)  # accepted messages, in order
    answers: list[tuple[int, dict, dict]] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    not_mobile: set[str] = field(default_factory=set)
    stall_seconds: float = 0.0  # take the message, then answer this late (a read timeout)
    hang_up: bool = False  # take the message, then drop the connection without an answer
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, code: int, message: str) -> tuple[int, dict, dict]:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return status, body, {}


class _Handler(QuietHandler):
    server: "TwilioServer"

    def do_POST(self) -> None:
        state = self.server.state
        body = read_body(self)
        form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        with state.lock:
            status, answer, headers = self._answer(state, form)
            state.requests.append(
                Recorded(self.path, dict(self.headers.items()), body, form, status)
            )
        payload = json.dumps(answer).encode()
        if state.hang_up:
            self.close_connection = True
            return
        if state.stall_seconds:
            time.sleep(state.stall_seconds)
        send(self, status, payload, content_type="application/json", headers=headers)

    def _answer(self, state: TwilioState, form: dict) -> tuple[int, dict, dict]:
        match = PATH.match(self.path)
        if match is None:
            return _error(404, 20404, "The requested resource was not found")
        expected = base64.b64encode(f"{state.account_sid}:{state.auth_token}".encode()).decode()
        if match["sid"] != state.account_sid or self.headers.get("Authorization") != (
            f"Basic {expected}"
        ):
            return _error(401, 20003, "Authenticate")
        if state.answers:
            return state.answers.pop(0)
        to = form.get("To", "")
        if not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in state.not_mobile:
            return _error(400, 21614, f"'To' number {to} is not a valid mobile number")
        if to in state.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "account_sid": state.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "queued",
        }
        state.delivered.append(message)
        return 201, message, {}


class TwilioServer(LocalHTTPServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(_Handler, port)
        self.state = TwilioState()


@pytest.fixture
def twilio_server(settings):
    """A running local Twilio, and the settings that send SMS through it."""
    with TwilioServer() as server:
        use_sms_provider(
            settings,
            "twilio",
            "campaigns.backends.twilio.TwilioBackend",
            TWILIO_API_BASE_URL=server.url,
            TWILIO_ACCOUNT_SID=server.state.account_sid,
            TWILIO_AUTH_TOKEN=server.state.auth_token,
            TWILIO_FROM="+15005550006",
        )
        yield server


def main() -> None:
    run_by_hand(
        TwilioServer,
        doc=__doc__,
        default_port=8903,
        settings=lambda server: {
            "TWILIO_API_BASE_URL": server.url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        },
    )


if __name__ == "__main__":
    main()
