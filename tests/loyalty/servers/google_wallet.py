"""A local Google Wallet on 127.0.0.1: Google's OAuth2 token endpoint for service accounts, the
walletobjects v1 loyaltyClass/loyaltyObject endpoints, and the callback root keys, for the
Google Wallet tests (and by hand, for a bench: see `main`).

- `POST /token` (the service account's token_uri points here): the JWT-bearer grant (RFC 7523);
  the assertion must be RS256-signed by the service account's key, issued by its client_email,
  for Google's token audience and the wallet_object.issuer scope. Answers an access token.
- `GET|POST|PATCH /walletobjects/v1/loyaltyClass[/{id}]` and `…/loyaltyObject[/{id}]`: need
  `Authorization: Bearer <a token issued here>` (401 otherwise); objects kept in memory; an
  insert checks Google's required fields (class: id, issuerName, programName, programLogo,
  reviewStatus; object: id, classId of a known class, state) and answers 409 for an existing
  id; a patch answers 404 for an unknown id and replaces the fields it carries. Errors come in
  Google's format ({"error": {"code", "message", "errors": [{"domain", "reason", …}]}}).
- `GET /keys` (GOOGLE_WALLET_CALLBACK_KEYS_URL): the root signing keys of this fake Google, as
  {"keys": [{"keyValue", "protocolVersion": "ECv2SigningOnly", "keyExpiration"}]}.
  `callback_body(message, recipient_id=…)` signs a save/delete callback as Google does
  (ECv2SigningOnly: an intermediate key signed by the root key, the message by the intermediate).

Knobs: `fail_next(status, times=…)` (the next walletobjects calls answer 429/500/…; the token
and keys endpoints are never failed), `revoke_tokens()` (every token issued so far now gets
401). Every request is recorded in `requests` unless `record=False` (a bench).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.campaigns.servers import google_auth
from tests.campaigns.servers.base import (
    FailNext,
    QuietHandler,
    ServedInThread,
    lowered_headers,
    read_body,
    send,
)
from tests.campaigns.servers.google_auth import ServiceAccount, token_grant_refusal

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
SENDER_ID = "GooglePayPasses"
PROTOCOL = "ECv2SigningOnly"
API = "/walletobjects/v1/"
CLASS_REQUIRED = ("id", "issuerName", "programName", "programLogo", "reviewStatus")
OBJECT_REQUIRED = ("id", "classId", "state")
OBJECT_STATES = {"ACTIVE", "COMPLETED", "EXPIRED", "INACTIVE"}
BARCODE_TYPES = {"QR_CODE", "AZTEC", "PDF_417", "CODE_128", "DATA_MATRIX", "EAN_13"}
REASONS = {400: "invalidArgument", 401: "authError", 404: "resourceNotFound",
           409: "duplicate", 429: "rateLimitExceeded", 500: "backendError",
           503: "backendError"}  # fmt: skip


def service_account_write(folder: Path, *, token_uri: str) -> ServiceAccount:
    """A throwaway service account key file for the issuer, token_uri at the local server."""
    return google_auth.service_account_write(
        folder,
        token_uri=token_uri,
        client_name="wallet",
        file_name="google-wallet-service-account.json",
    )


def _signed_bytes(*parts: str) -> bytes:
    out = bytearray()
    for part in parts:
        data = part.encode()
        out += len(data).to_bytes(4, "little") + data
    return bytes(out)


def _spki_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


@dataclass
class CallbackSigner:
    """A fake Google's root key and intermediate key, signing callbacks as Google does."""

    root: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    intermediate: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def root_keys(self) -> dict[str, Any]:
        expires = int((time.time() + 365 * 86400) * 1000)
        return {
            "keys": [
                {"keyValue": _spki_b64(self.root), "protocolVersion": PROTOCOL,
                 "keyExpiration": str(expires)},
            ]
        }  # fmt: skip

    def body(
        self,
        message: dict[str, Any],
        *,
        recipient_id: str,
        intermediate_expires_ms: int | None = None,
        root: ec.EllipticCurvePrivateKey | None = None,
    ) -> bytes:
        """The callback's body for a message (classId, objectId, expTimeMillis, eventType,
        nonce), signed for `recipient_id` (the issuer id)."""
        expires = intermediate_expires_ms or int((time.time() + 86400) * 1000)
        signed_key = json.dumps(
            {"keyValue": _spki_b64(self.intermediate), "keyExpiration": str(expires)}
        )
        signed_message = json.dumps(message)
        token = {
            "protocolVersion": PROTOCOL,
            "intermediateSigningKey": {
                "signedKey": signed_key,
                "signatures": [
                    _sign(root or self.root, _signed_bytes(SENDER_ID, PROTOCOL, signed_key))
                ],
            },
            "signature": _sign(
                self.intermediate,
                _signed_bytes(SENDER_ID, recipient_id, PROTOCOL, signed_message),
            ),
            "signedMessage": signed_message,
        }
        return json.dumps(token).encode()


# -- the server -----------------------------------------------------------------------------


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


def _error(status: int, message: str) -> tuple[int, dict]:
    reason = REASONS.get(status, "backendError")
    return status, {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
        }
    }


@dataclass
class GoogleWalletServer(ServedInThread, FailNext):
    host: str = "127.0.0.1"
    port: int = 0
    record: bool = True
    requests: list = field(default_factory=list)
    classes: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)
    signer: CallbackSigner = field(default_factory=CallbackSigner)
    token_lifetime: int = 3600

    def __post_init__(self):
        self._accounts: dict[str, bytes] = {}  # client_email -> public key PEM
        self._tokens: set[str] = set()
        self._init_failures()
        self._store = threading.Lock()
        self.counts: dict[str, int] = {}  # "PATCH loyaltyObject": n, … (kept even unrecorded)

    def handler_class(self):
        return _handler_for(self)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def keys_url(self) -> str:
        return f"{self.url}/keys"

    def add_account(self, account: ServiceAccount) -> None:
        self._accounts[account.client_email] = account.public_key_pem

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def calls(self, method: str, kind: str) -> list[Recorded]:
        """Recorded calls like ("PATCH", "loyaltyObject")."""
        prefix = f"{API}{kind}"
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # -- the protocol ------------------------------------------------------------------------

    def handle_token(self, form: dict[str, str]) -> tuple[int, dict]:
        refusal = token_grant_refusal(form, public_key_of=self._accounts.get, scope=SCOPE)
        if refusal is not None:
            return 400, refusal
        token = "ya29.local-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        return 200, {"access_token": token, "expires_in": self.token_lifetime,
                     "token_type": "Bearer"}  # fmt: skip

    def handle_api(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        auth = headers.get("authorization", "")
        with self._lock:
            known = auth.startswith("Bearer ") and auth[7:] in self._tokens
        if not known:
            return _error(401, "Request had invalid authentication credentials.")
        failure = self._next_failure()
        if failure:
            return _error(failure[0], "Failing as asked.")
        kind, _, ident = path[len(API) :].partition("/")
        ident = unquote(ident)
        if kind not in ("loyaltyClass", "loyaltyObject"):
            return _error(404, f"Unknown resource {kind}")
        with self._store:
            self.counts[f"{method} {kind}"] = self.counts.get(f"{method} {kind}", 0) + 1
        store = self.classes if kind == "loyaltyClass" else self.objects
        if method == "GET":
            with self._store:
                found = store.get(ident)
            return (200, found) if found else _error(404, f"Resource not found: {ident}")
        try:
            resource = json.loads(body)
            assert isinstance(resource, dict)
        except (ValueError, AssertionError):
            return _error(400, "Invalid JSON payload received.")
        if method == "POST" and not ident:
            return self._insert(kind, store, resource)
        if method == "PATCH" and ident:
            return self._patch(kind, store, ident, resource)
        return _error(404, "Not found")

    def _check(self, kind: str, resource: dict) -> str:
        required = CLASS_REQUIRED if kind == "loyaltyClass" else OBJECT_REQUIRED
        missing = [name for name in required if not resource.get(name)]
        if missing:
            return f"Missing required field(s): {', '.join(missing)}"
        if kind == "loyaltyObject":
            if resource["classId"] not in self.classes:
                return f"Class {resource['classId']} not found"
            if resource["state"] not in OBJECT_STATES:
                return f"Invalid state {resource['state']}"
            barcode = resource.get("barcode")
            if barcode and barcode.get("type") not in BARCODE_TYPES:
                return "Invalid barcode type"
            for points in ("loyaltyPoints", "secondaryLoyaltyPoints"):
                balance = (resource.get(points) or {}).get("balance")
                if points in resource and not (
                    isinstance(balance, dict)
                    and {"int", "string", "double", "money"} & set(balance)
                ):
                    return f"{points}.balance must hold int, string, double or money"
        return ""

    def _insert(self, kind: str, store: dict, resource: dict) -> tuple[int, dict]:
        with self._store:
            problem = self._check(kind, resource)
            if problem:
                status = 404 if problem.startswith("Class ") else 400
                return _error(status, problem)
            if resource["id"] in store:
                return _error(409, f"Resource already exists: {resource['id']}")
            store[resource["id"]] = resource
        return 200, resource

    def _patch(self, kind: str, store: dict, ident: str, resource: dict) -> tuple[int, dict]:
        with self._store:
            current = store.get(ident)
            if current is None:
                return _error(404, f"Resource not found: {ident}")
            if resource.get("id", ident) != ident:
                return _error(400, "The id in the body does not match the URL")
            merged = {**current, **resource}
            problem = self._check(kind, merged)
            if problem:
                return _error(400, problem)
            store[ident] = merged
        return 200, merged


def _handler_for(server: GoogleWalletServer):
    class Handler(QuietHandler):
        def _handle(self, method: str) -> None:
            body = read_body(self)
            headers = lowered_headers(self)
            record = Recorded(method, self.path, headers, body)
            if server.record:
                server.requests.append(record)
            extra: dict[str, str] = {}
            if method == "POST" and self.path == "/token":
                status, answer = server.handle_token(record.form)
            elif method == "GET" and self.path == "/keys":
                status, answer = 200, server.signer.root_keys()
                extra = {"Cache-Control": "public, max-age=3600"}
            elif self.path.startswith(API):
                status, answer = server.handle_api(method, self.path, headers, body)
            else:
                status, answer = _error(404, "Not found")
            record.status = status
            send(
                self,
                status,
                json.dumps(answer).encode(),
                content_type="application/json; charset=UTF-8",
                headers=extra,
            )

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_PATCH(self):
            self._handle("PATCH")

    return Handler


def main() -> None:
    """Run a local Google Wallet by hand (a bench): writes a service account key pointing at it
    and prints the settings to use
    (`python -m tests.loyalty.servers.google_wallet --port 8906 --dir /tmp/google-wallet`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8906)
    parser.add_argument("--dir", default="", help="where to write the key file (a temp dir)")
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # the settings show at once when piped
    server = GoogleWalletServer(port=args.port, record=args.record)
    server.start()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="google-wallet-"))
    folder.mkdir(parents=True, exist_ok=True)
    account = service_account_write(folder, token_uri=server.token_uri)
    server.add_account(account)
    print(f"GOOGLE_WALLET_API_BASE_URL={server.url}")
    print(f"GOOGLE_WALLET_SERVICE_ACCOUNT_FILE={account.path.resolve()}")
    print(f"GOOGLE_WALLET_CALLBACK_KEYS_URL={server.keys_url}")
    try:
        while True:
            time.sleep(5)
            print(json.dumps(server.counts, sort_keys=True))
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
