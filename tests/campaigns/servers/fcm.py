"""A local FCM: Google's OAuth2 token endpoint for service accounts and FCM HTTP v1's
`messages:send`, on 127.0.0.1, for the push backend's tests (and by hand: see `main`).

- `POST /token` (the service account's token_uri points here): the JWT-bearer grant
  (RFC 7523) whose assertion must be RS256-signed by the service account's key, issued by
  its client_email, for Google's token audience and the firebase.messaging scope; answers
  an access token.
- `POST /v1/projects/{project}/messages:send`: needs `Authorization: Bearer <a token we
  issued>`, validates the message as FCM does (one target, string data values, known fields)
  and answers {"name": "projects/…/messages/…"} or an error in FCM's format
  ({"error": {"code", "message", "status", "details": [FcmError | BadRequest]}}).

Knobs: `unregistered` (tokens FCM no longer knows: 404 UNREGISTERED), `revoke_tokens()`
(every access token issued so far now gets 401), `fail_next(status, retry_after)` (429/503
for the next sends). Every request is recorded in `requests`.
"""

import argparse
import itertools
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from tests.campaigns.servers.base import (
    FailNext,
    QuietHandler,
    ServedInThread,
    echo_until_interrupted,
    lowered_headers,
    read_body,
    send,
)
from tests.campaigns.servers.google_auth import (
    ServiceAccount,
    service_account_write,
    token_grant_refusal,
)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
MESSAGE_FIELDS = {
    "name", "data", "notification", "android", "webpush", "apns", "fcm_options",
    "token", "topic", "condition",
}  # fmt: skip
NOTIFICATION_FIELDS = {"title", "body", "image"}
STATUS_NAME = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
               404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
               503: "UNAVAILABLE"}  # fmt: skip
FCM_CODE = {400: "INVALID_ARGUMENT", 401: "THIRD_PARTY_AUTH_ERROR", 403: "SENDER_ID_MISMATCH",
            404: "UNREGISTERED", 429: "QUOTA_EXCEEDED", 500: "INTERNAL",
            503: "UNAVAILABLE"}  # fmt: skip


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes
    status: int = 0

    def json(self):
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class FcmServer(ServedInThread, FailNext):
    host: str = "127.0.0.1"
    port: int = 0
    accounts: dict = field(default_factory=dict)  # client_email -> (project_id, public key PEM)
    unregistered: set = field(default_factory=set)
    requests: list = field(default_factory=list)
    token_lifetime: int = 3600

    def __post_init__(self):
        self._tokens: set[str] = set()
        self._init_failures()
        self._ids = itertools.count(1)

    # -- set-up ------------------------------------------------------------------------------

    def handler_class(self):
        return _handler_for(self)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def add_account(self, account: ServiceAccount) -> None:
        self.accounts[account.client_email] = (account.project_id, account.public_key_pem)

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- what arrived ------------------------------------------------------------------------

    def sends(self, *, ok_only: bool = False) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path.endswith("/messages:send") and (not ok_only or r.status == 200)
        ]

    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/token"]

    # -- the protocol ------------------------------------------------------------------------

    def _public_key_of(self, client_email: str) -> bytes | None:
        account = self.accounts.get(client_email)
        return account[1] if account else None

    def handle_token(self, form: dict[str, str]) -> tuple[int, dict, dict]:
        refusal = token_grant_refusal(form, public_key_of=self._public_key_of, scope=SCOPE)
        if refusal is not None:
            return 400, refusal, {}
        token = "ya29.local-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        body = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return 200, body, {}

    def handle_send(self, path: str, headers: dict, body: bytes) -> tuple[int, dict, dict]:
        auth = headers.get("authorization", "")
        with self._lock:
            known = auth.startswith("Bearer ") and auth[7:] in self._tokens
        if not known:
            return _error(401, "Request had invalid authentication credentials.", None)
        project = path.split("/")[3] if path.count("/") >= 4 else ""
        if project not in {p for p, _key in self.accounts.values()}:
            return _error(403, "Permission denied for this project.", "SENDER_ID_MISMATCH")
        failure = self._next_failure()
        if failure:
            status, retry_after = failure
            extra = {"Retry-After": retry_after} if retry_after else {}
            return *_error(status, "Quota exceeded or service unavailable.", None)[:2], extra
        try:
            message = json.loads(body)["message"]
            assert isinstance(message, dict)
        except (ValueError, KeyError, AssertionError):
            return _bad_request("message", "Invalid JSON payload received.")
        unknown = set(message) - MESSAGE_FIELDS
        if unknown:
            name = sorted(unknown)[0]
            return _bad_request(
                "message", f"Invalid JSON payload received. Unknown name \"{name}\" at 'message'"
            )
        targets = [k for k in ("token", "topic", "condition") if message.get(k)]
        if len(targets) != 1:
            return _bad_request("message", "Exactly one of token, topic or condition is required")
        notification = message.get("notification") or {}
        if not isinstance(notification, dict) or set(notification) - NOTIFICATION_FIELDS:
            return _bad_request("message.notification", "Invalid notification")
        for key, value in notification.items():
            if not isinstance(value, str):
                return _bad_request(f"message.notification.{key}", "must be a string")
        data = message.get("data") or {}
        for key, value in data.items():
            if not isinstance(value, str):
                return _bad_request(
                    f"message.data[{key}].value",
                    f"Invalid value at 'message.data[0].value' (TYPE_STRING), {value}",
                )
        token = message.get("token", "")
        if token and (len(token) < 8 or " " in token):
            return _error(
                400, "The registration token is not a valid FCM registration token",
                "INVALID_ARGUMENT",
            )  # fmt: skip
        if token in self.unregistered:
            return _error(404, "Requested entity was not found.", "UNREGISTERED")
        name = f"projects/{project}/messages/0:{int(time.time() * 1000)}%{next(self._ids):08x}"
        return 200, {"name": name}, {}


def _error(status: int, message: str, code: str | None) -> tuple[int, dict, dict]:
    details = [{"@type": FCM_ERROR, "errorCode": code or FCM_CODE.get(status, "UNSPECIFIED_ERROR")}]
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": STATUS_NAME.get(status, "UNKNOWN"),
            "details": details,
        }
    }
    return status, body, {}


def _bad_request(field_name: str, description: str) -> tuple[int, dict, dict]:
    body = {
        "error": {
            "code": 400,
            "message": description,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": BAD_REQUEST,
                    "fieldViolations": [{"field": field_name, "description": description}],
                }
            ],
        }
    }
    return 400, body, {}


def _handler_for(server: FcmServer):
    class Handler(QuietHandler):
        def do_POST(self):
            body = read_body(self)
            headers = lowered_headers(self)
            record = Recorded("POST", self.path, headers, body)
            server.requests.append(record)
            if self.path == "/token":
                status, answer, extra = server.handle_token(record.form)
            elif self.path.startswith("/v1/projects/") and self.path.endswith("/messages:send"):
                status, answer, extra = server.handle_send(self.path, headers, body)
            else:
                status, answer, extra = _error(404, "Not found", "UNSPECIFIED_ERROR")
            record.status = status
            payload = json.dumps(answer).encode()
            send(
                self,
                status,
                payload,
                content_type="application/json; charset=UTF-8",
                headers=extra,
            )

    return Handler


def main() -> None:
    """Run a local FCM by hand: writes a service account key pointing at it and prints the
    settings to use (`python -m tests.campaigns.servers.fcm --port 8905 --dir var/fcm`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8905)
    parser.add_argument("--dir", default="var/fcm", help="where to write the key file")
    parser.add_argument("--unregistered", action="append", default=[], help="a dead token")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # the settings show at once when piped
    server = FcmServer(port=args.port, unregistered=set(args.unregistered))
    server.start()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    account = service_account_write(folder, token_uri=server.token_uri)
    server.add_account(account)
    print(f"FCM_API_BASE_URL={server.url}")
    print(f"FCM_SERVICE_ACCOUNT_FILE={account.path.resolve()}")
    echo_until_interrupted(
        server, lambda r: f"{r.status} {r.path} {r.body.decode(errors='replace')[:500]}"
    )


if __name__ == "__main__":
    main()
