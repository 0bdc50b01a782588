"""A local APNs: Apple's provider API over HTTP/2 and TLS on 127.0.0.1, for the wallet push
tests and bench/wallet.py (and by hand: `python -m tests.loyalty.servers.apns`).

- TLS with ALPN "h2" and its own certificate, made here with `cryptography` (a CA and a
  certificate for 127.0.0.1 it signed); the client trusts it through APNS_CA_FILE = `ca_file`.
- HTTP/2 by the `h2` package, many streams at once on a connection, as APNs serves them.
- `POST /3/device/<device token>`, checked as APNs checks it: `authorization: bearer <JWT>`
  verified with the key's public half (ES256, kid = the key id, iss = the team, iat less than
  an hour old: otherwise 403 InvalidProviderToken / ExpiredProviderToken); `apns-topic` the
  pass type id (400 MissingTopic / TopicDisallowed); `apns-push-type` known and, for
  `background`, `apns-priority` 5 (400 BadPriority); the payload a JSON dictionary of at most
  4 KB (400 PayloadEmpty / BadPayload, 413 PayloadTooLarge); the token hexadecimal
  (400 BadDeviceToken). Answers 200 with an `apns-id`, or the status with {"reason": …}
  (410 adds "timestamp").

Knobs: `answers[token] = (status, reason)` answers that token so (410 Unregistered, 400
BadDeviceToken, 429 TooManyRequests, 500 InternalServerError…); `expire_tokens()` makes every
JWT seen so far answer 403 ExpiredProviderToken. Every request is recorded in `requests`.
"""

import argparse
import ipaddress
import json
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PUSH_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
              "liveactivity", "pushtotalk", "widgets"}  # fmt: skip
TOKEN_MAX_AGE = 3600  # seconds: Apple refuses a provider token older than an hour
PAYLOAD_MAX = 4096
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
    key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
    decipher_only=False,
)  # fmt: skip


@dataclass
class ApnsKey:
    """An APNs auth key as Apple hands it out (a .p8 file: PKCS#8 PEM of a P-256 key)."""

    path: Path
    key_id: str
    team_id: str
    public_key_pem: bytes


def apns_key_write(folder: Path, *, key_id: str = "ABC123DEFG", team_id: str = "DEF123GHIJ"):
    key = ec.generate_private_key(ec.SECP256R1())
    path = Path(folder) / f"AuthKey_{key_id}.p8"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ApnsKey(path, key_id, team_id, public)


def tls_files_write(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it: (ca, cert, key) paths."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local APNs test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = Path(folder)
    paths = (folder / "apns-ca.pem", folder / "apns-server.pem", folder / "apns-server-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes
    status: int = 0
    reason: str = ""

    @property
    def device_token(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def bearer(self) -> str:
        return self.headers.get("authorization", "").removeprefix("bearer ")


@dataclass
class ApnsServer:
    key: ApnsKey
    topic: str
    folder: Path
    host: str = "127.0.0.1"
    port: int = 0
    record: bool = True  # keep every request (the bench only counts)
    answers: dict = field(default_factory=dict)  # device token -> (status, reason)
    requests: list = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # status -> requests

    def __post_init__(self) -> None:
        self.ca_file, cert, key = tls_files_write(self.folder)
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self._tls.set_alpn_protocols(["h2"])
        self._lock = threading.Lock()
        self._verified: set[str] = set()
        self._expired: set[str] = set()
        self._public_key = serialization.load_pem_public_key(self.key.public_key_pem)
        self._socket: socket.socket | None = None
        self._stopping = threading.Event()

    # -- set-up ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def settings(self) -> dict[str, str]:
        """The settings that point the project at this server."""
        return {
            "APNS_BASE_URL": self.url,
            "APNS_CA_FILE": str(self.ca_file),
            "APNS_KEY": str(self.key.path),
            "APNS_KEY_ID": self.key.key_id,
            "APNS_TEAM_ID": self.key.team_id,
            "APPLE_WALLET_PASS_TYPE_ID": self.topic,
        }

    def expire_tokens(self) -> None:
        with self._lock:
            self._expired.update(self._verified)

    def start(self):
        self._socket = socket.create_server((self.host, self.port), backlog=64)
        self.port = self._socket.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._socket is not None:
            self._socket.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what arrived ----------------------------------------------------------------------

    def pushes(self, *, ok_only: bool = False) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.status == 200 or not ok_only]

    def tokens_pushed(self) -> Counter:
        return Counter(r.device_token for r in self.pushes(ok_only=True))

    # -- serving ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                raw, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers go out at once
        try:
            sock = self._tls.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        if sock.selected_alpn_protocol() != "h2":
            sock.close()
            return
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000}
        )
        conn.initiate_connection()
        streams: dict[int, tuple[dict, bytearray]] = {}
        try:
            sock.sendall(conn.data_to_send())
            while not self._stopping.is_set():
                data = sock.recv(65_536)
                if not data:
                    break
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        self._respond(conn, event.stream_id, headers, bytes(body))
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                sock.sendall(conn.data_to_send())
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            sock.close()

    def _respond(self, conn, stream_id: int, headers: dict, body: bytes) -> None:
        record = Recorded(
            method=headers.get(":method", ""),
            path=headers.get(":path", ""),
            headers={k: v for k, v in headers.items() if not k.startswith(":")},
            body=body,
        )
        record.status, record.reason = self._check(record)
        with self._lock:
            self.counts[record.status] += 1
            if self.record:
                self.requests.append(record)
        answer = [(":status", str(record.status)), ("apns-id", str(uuid.uuid4()))]
        if record.status == 200:
            conn.send_headers(stream_id, answer, end_stream=True)
            return
        error = {"reason": record.reason}
        if record.status == 410:
            error["timestamp"] = int(time.time() * 1000)
        payload = json.dumps(error).encode()
        conn.send_headers(
            stream_id,
            [*answer, ("content-type", "application/json"), ("content-length", str(len(payload)))],
        )
        conn.send_data(stream_id, payload, end_stream=True)

    def _check(self, r: Recorded) -> tuple[int, str]:
        if r.method != "POST":
            return 405, "MethodNotAllowed"
        prefix = "/3/device/"
        if not r.path.startswith(prefix) or not r.device_token:
            return 404, "BadPath"
        auth = self._check_token(r.bearer)
        if auth:
            return auth
        if "apns-topic" not in r.headers:
            return 400, "MissingTopic"
        if r.headers["apns-topic"] != self.topic:
            return 400, "TopicDisallowed"
        push_type = r.headers.get("apns-push-type", "")
        if push_type not in PUSH_TYPES:
            return 400, "InvalidPushType"
        if r.headers.get("apns-priority", "10") not in {"1", "5", "10"}:
            return 400, "BadPriority"
        if push_type == "background" and r.headers.get("apns-priority", "10") != "5":
            return 400, "BadPriority"  # Apple: background pushes are always priority 5
        if not r.headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        if not r.body:
            return 400, "PayloadEmpty"
        if len(r.body) > PAYLOAD_MAX:
            return 413, "PayloadTooLarge"
        try:
            if not isinstance(json.loads(r.body), dict):
                return 400, "BadPayload"
        except ValueError:
            return 400, "BadPayload"
        try:
            bytes.fromhex(r.device_token)
        except ValueError:
            return 400, "BadDeviceToken"
        return self.answers.get(r.device_token, (200, ""))

    def _check_token(self, token: str) -> tuple[int, str] | None:
        if not token:
            return 403, "MissingProviderToken"
        with self._lock:
            if token in self._expired:
                return 403, "ExpiredProviderToken"
            known = token in self._verified
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["ES256"],
                options={"verify_signature": not known, "require": ["iss", "iat"]},
            )
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        if header.get("kid") != self.key.key_id or claims.get("iss") != self.key.team_id:
            return 403, "InvalidProviderToken"
        if time.time() - claims["iat"] > TOKEN_MAX_AGE:
            return 403, "ExpiredProviderToken"
        with self._lock:
            self._verified.add(token)
        return None


def main() -> None:
    """`python -m tests.loyalty.servers.apns [--port N] [--quiet]`: make a key and a TLS
    chain in a temporary folder, print the settings that point the project here, serve until
    ^C or SIGTERM, then print the requests by status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--topic", default="pass.com.example.omnichannel.member")
    parser.add_argument("--quiet", action="store_true", help="count requests, print none")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="apns-"))
    server = ApnsServer(
        key=apns_key_write(folder), topic=args.topic, folder=folder, port=args.port, record=False
    ).start()
    for name, value in server.settings().items():
        print(f"{name}={value}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seen = 0
    try:
        while not stop.wait(0.5):
            total = sum(server.counts.values())
            if not args.quiet and total != seen:
                print(f"requests so far: {dict(server.counts)}", flush=True)
            seen = total
    except KeyboardInterrupt:
        pass
    server.stop()
    print(f"requests by status: {dict(server.counts)}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
