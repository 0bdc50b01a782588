"""A local Web Push service (RFC 8030) on 127.0.0.1, for the push backend's tests (and by
hand: see `main`).

`subscribe()` plays the browser: it makes a subscription (a P-256 key pair and a 16-byte auth
secret, RFC 8291) whose endpoint is this server, and keeps the private key. A push to it
must carry
- `Authorization: vapid t=<JWT>,k=<application server key>` (RFC 8292): an ES256 JWT signed
  by that key, aud = this server's origin, exp in the future and at most 24 hours away, sub a
  mailto: or https: contact; and, when the server was given one, k must be the site's key;
- `TTL` (seconds, required by RFC 8030 §5.2) and `Content-Encoding: aes128gcm` (RFC 8188);
the body is decrypted with the subscription's private key (http_ece, as a browser does), so a
test asserts the exact payload. Answers 201 with a Location, 410 for a subscription marked
gone (`gone`), 404 for one never made, 429 on `fail_next`.
"""

import argparse
import base64
import itertools
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.campaigns.servers.base import (
    FailNext,
    QuietHandler,
    ServedInThread,
    echo_until_interrupted,
    lowered_headers,
    read_body,
    send,
)

MAX_EXP_SECONDS = 24 * 60 * 60  # RFC 8292 §2


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass
class VapidKeys:
    path: Path  # the private key, PEM: what WEBPUSH_VAPID_PRIVATE_KEY names
    public_key: str  # base64url uncompressed point: the site's applicationServerKey


def vapid_keys_write(folder: Path) -> VapidKeys:
    """A throwaway VAPID key pair, the private key in a PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = Path(folder) / "vapid_private.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return VapidKeys(path, b64url(public_point(key)))


@dataclass
class Subscription:
    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def json(self) -> dict:
        """What the browser's PushSubscription.toJSON() gives."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(public_point(self.private_key)), "auth": b64url(self.auth)},
        }


@dataclass
class Push:
    subscription_id: str
    headers: dict
    body: bytes
    status: int = 0
    payload: bytes | None = None  # decrypted
    claims: dict = field(default_factory=dict)
    error: str = ""

    def json(self):
        return json.loads(self.payload)


@dataclass
class WebPushServer(ServedInThread, FailNext):
    host: str = "127.0.0.1"
    port: int = 0
    application_server_key: str = ""  # when set, pushes must be signed with this key
    gone: set = field(default_factory=set)  # subscription ids the browser dropped: 410
    requests: list = field(default_factory=list)

    def __post_init__(self):
        self.subscriptions: dict[str, Subscription] = {}
        self._init_failures()
        self._ids = itertools.count(1)

    def handler_class(self):
        return _handler_for(self)

    def subscribe(self) -> Subscription:
        sub_id = secrets.token_urlsafe(16)
        subscription = Subscription(
            sub_id,
            f"{self.url}/push/{sub_id}",
            ec.generate_private_key(ec.SECP256R1()),
            secrets.token_bytes(16),
        )
        self.subscriptions[sub_id] = subscription
        return subscription

    def delivered(self) -> list[Push]:
        return [push for push in self.requests if push.status == 201]

    # -- the protocol ------------------------------------------------------------------------

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int, str, dict]:
        sub_id = path.removeprefix("/push/")
        push = Push(sub_id, headers, body)
        with self._lock:
            self.requests.append(push)
        push.status, push.error, extra = self._answer(push)
        return push.status, push.error, extra

    def _answer(self, push: Push) -> tuple[int, str, dict]:
        subscription = self.subscriptions.get(push.subscription_id)
        if subscription is None:
            return 404, "no such subscription", {}
        if push.subscription_id in self.gone:
            return 410, "push subscription has unsubscribed or expired", {}
        try:
            push.claims = self._check_vapid(push.headers.get("authorization", ""))
        except ValueError as exc:
            return 403, f"VAPID: {exc}", {}
        ttl = push.headers.get("ttl", "")
        if not ttl.isdigit():
            return 400, "missing or invalid TTL header", {}
        if push.headers.get("content-encoding") != "aes128gcm":
            return 415, "Content-Encoding must be aes128gcm", {}
        try:
            push.payload = http_ece.decrypt(
                push.body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
        except Exception as exc:
            return 400, f"cannot decrypt: {exc!r}", {}
        failure = self._next_failure()
        if failure:
            status, retry_after = failure
            return status, "too many requests", {"Retry-After": retry_after} if retry_after else {}
        return 201, "", {"Location": f"{self.url}/message/{next(self._ids)}"}

    def _check_vapid(self, header: str) -> dict:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("the Authorization scheme must be vapid")
        parts = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        token, key = parts.get("t", ""), parts.get("k", "")
        if self.application_server_key and key != self.application_server_key:
            raise ValueError("k is not the application server key of this subscription")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
        except ValueError:
            raise ValueError("t is not a JWT") from None
        jwt_header = json.loads(b64url_decode(header_b64))
        if jwt_header.get("alg") != "ES256":
            raise ValueError("the JWT must be ES256")
        signature = b64url_decode(signature_b64)
        if len(signature) != 64:
            raise ValueError("an ES256 signature is 64 bytes")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("bad signature") from None
        claims = json.loads(b64url_decode(claims_b64))
        if claims.get("aud") != self.url:
            raise ValueError(f"aud must be {self.url}")
        now = time.time()
        if not now < int(claims.get("exp", 0)) <= now + MAX_EXP_SECONDS + 60:
            raise ValueError("exp must be in the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("sub must be a mailto: or https: contact")
        return claims


def _handler_for(server: WebPushServer):
    class Handler(QuietHandler):
        def do_POST(self):
            body = read_body(self)
            headers = lowered_headers(self)
            if self.path.startswith("/push/"):
                status, error, extra = server.handle(self.path, headers, body)
            else:
                status, error, extra = 404, "not found", {}
            payload = json.dumps({"errno": status, "message": error}).encode() if error else b""
            content_type = "application/json" if payload else None
            send(self, status, payload, content_type=content_type, headers=extra)

    return Handler


def main() -> None:
    """Run a local push service by hand: writes a VAPID key, makes one subscription and prints
    it and the settings, then each payload that arrives, decrypted
    (`python -m tests.campaigns.servers.webpush --port 8906 --dir var/webpush`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8906)
    parser.add_argument("--dir", default="var/webpush")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # the settings show at once when piped
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    keys = vapid_keys_write(folder)
    server = WebPushServer(port=args.port, application_server_key=keys.public_key).start()
    print(f"WEBPUSH_VAPID_PRIVATE_KEY={keys.path.resolve()}")
    print("subscription:", json.dumps(server.subscribe().json()))

    def describe(push: Push) -> str:
        return f"{push.status} {push.error or (push.payload or b'').decode(errors='replace')}"

    echo_until_interrupted(server, describe)


if __name__ == "__main__":
    main()
