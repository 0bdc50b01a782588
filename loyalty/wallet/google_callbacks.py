"""Google Wallet's save/delete callbacks: the signature checked as Google specifies it.

Google signs each callback as a Google Pay "PaymentMethodToken" with protocol ECv2SigningOnly
(what Tink's PaymentMethodTokenRecipient verifies, with sender id "GooglePayPasses" and our
issuer id as recipient id). The body is JSON:

    {"protocolVersion": "ECv2SigningOnly",
     "intermediateSigningKey": {"signedKey": "<JSON: keyValue, keyExpiration>",
                                "signatures": ["<base64 DER ECDSA>", ...]},
     "signature": "<base64 DER ECDSA>",
     "signedMessage": "<JSON: classId, objectId, expTimeMillis, eventType, nonce>"}

1. Google's root signing keys are fetched from GOOGLE_WALLET_CALLBACK_KEYS_URL
   ({"keys": [{"keyValue", "protocolVersion", "keyExpiration"}]}) and cached for as long as the
   answer's Cache-Control max-age says (an hour without one); only ECv2SigningOnly keys that have
   not expired count.
2. One of the intermediate key's signatures must verify with one of the root keys (ECDSA P-256,
   SHA-256) over  len|"GooglePayPasses"|len|"ECv2SigningOnly"|len|signedKey.
3. The intermediate key must not have expired (keyExpiration, milliseconds).
4. The message signature must verify with the intermediate key over
   len|"GooglePayPasses"|len|<issuer id>|len|"ECv2SigningOnly"|len|signedMessage.
   (Each len is the next part's byte length, 4 bytes little-endian.)
5. The message must not have expired (expTimeMillis).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from django.conf import settings

SENDER_ID = "GooglePayPasses"
PROTOCOL = "ECv2SigningOnly"
EVENTS = ("save", "del")
KEYS_TIMEOUT_SECONDS = 10
KEYS_DEFAULT_MAX_AGE = 3600

# The reasons a callback is refused (the 400's body says which; tests assert on them).
BAD_JSON = "malformed message"
BAD_PROTOCOL = "unsupported protocol version"
NO_ROOT_KEYS = "no valid root signing keys"
BAD_INTERMEDIATE_SIGNATURE = "intermediate signing key not signed by a Google root key"
INTERMEDIATE_EXPIRED = "intermediate signing key expired"
BAD_SIGNATURE = "message signature does not verify"
MESSAGE_EXPIRED = "message expired"
BAD_MESSAGE = "not a save or delete callback"


class CallbackInvalid(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CallbackMessage:
    class_id: str
    object_id: str
    event_type: str  # "save" | "del"
    nonce: str
    exp_time_millis: int


def signed_bytes(*parts: str) -> bytes:
    """Google's signed string: each part's UTF-8 bytes after its length (4 bytes, little-endian)."""
    out = bytearray()
    for part in parts:
        data = part.encode("utf-8")
        out += struct.pack("<I", len(data)) + data
    return bytes(out)


def _public_key(value: str) -> ec.EllipticCurvePublicKey:
    key = load_der_public_key(base64.b64decode(value, validate=True))
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an EC P-256 key")
    return key


def _verifies(key: ec.EllipticCurvePublicKey, signature: str, data: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error, TypeError):
        return False
    return True


# -- Google's root keys ---------------------------------------------------------------------


@dataclass
class _RootKeys:
    url: str = ""
    fetched_until: float = 0.0  # time.monotonic() after which the keys are fetched again
    keys: tuple[tuple[ec.EllipticCurvePublicKey, int | None], ...] = ()  # (key, expires ms)


_root = _RootKeys()
_root_lock = threading.Lock()


def _max_age(cache_control: str) -> int:
    match = re.search(r"max-age=(\d+)", cache_control or "")
    return int(match.group(1)) if match else KEYS_DEFAULT_MAX_AGE


def root_keys(*, now_ms: int) -> list[ec.EllipticCurvePublicKey]:
    """Google's ECv2SigningOnly root keys that have not expired, from the cache or fetched.
    A failed fetch keeps the keys already held (and raises only when there are none)."""
    url = settings.GOOGLE_WALLET_CALLBACK_KEYS_URL
    with _root_lock:
        if _root.url != url or time.monotonic() >= _root.fetched_until:
            try:
                response = requests.get(url, timeout=KEYS_TIMEOUT_SECONDS)
                response.raise_for_status()
                keys = []
                for entry in response.json().get("keys") or []:
                    if entry.get("protocolVersion") != PROTOCOL:
                        continue
                    expiration = entry.get("keyExpiration")
                    keys.append(
                        (_public_key(entry["keyValue"]), int(expiration) if expiration else None)
                    )
                _root.url = url
                _root.keys = tuple(keys)
                _root.fetched_until = time.monotonic() + _max_age(
                    response.headers.get("Cache-Control", "")
                )
            except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError):
                if _root.url != url:
                    _root.keys = ()
                # Try again in a minute, not on every callback.
                _root.url = url
                _root.fetched_until = time.monotonic() + 60
        return [key for key, expires in _root.keys if expires is None or expires > now_ms]


def root_keys_forget() -> None:
    """Drop the cached root keys (tests; a key rotation by hand)."""
    with _root_lock:
        _root.url, _root.fetched_until, _root.keys = "", 0.0, ()


# -- the callback ---------------------------------------------------------------------------


def _json_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, (str, bytes)):
        raise CallbackInvalid(BAD_JSON)
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CallbackInvalid(BAD_JSON) from exc
    if not isinstance(value, dict):
        raise CallbackInvalid(BAD_JSON)
    return value


def callback_verify(body: bytes, *, now_ms: int | None = None) -> CallbackMessage:
    """The callback's message once its signatures and times check out; raises CallbackInvalid
    with the reason otherwise."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    token = _json_object(body)
    if token.get("protocolVersion") != PROTOCOL:
        raise CallbackInvalid(BAD_PROTOCOL)
    intermediate = token.get("intermediateSigningKey")
    signed_key = intermediate.get("signedKey") if isinstance(intermediate, dict) else None
    signatures = intermediate.get("signatures") if isinstance(intermediate, dict) else None
    signed_message = token.get("signedMessage")
    signature = token.get("signature")
    if not (
        isinstance(signed_key, str)
        and isinstance(signatures, list)
        and isinstance(signed_message, str)
        and isinstance(signature, str)
    ):
        raise CallbackInvalid(BAD_JSON)

    # 1-2: the intermediate key is Google's.
    roots = root_keys(now_ms=now_ms)
    if not roots:
        raise CallbackInvalid(NO_ROOT_KEYS)
    data = signed_bytes(SENDER_ID, PROTOCOL, signed_key)
    if not any(
        isinstance(sig, str) and _verifies(root, sig, data) for root in roots for sig in signatures
    ):
        raise CallbackInvalid(BAD_INTERMEDIATE_SIGNATURE)

    # 3: and still valid.
    key_info = _json_object(signed_key)
    try:
        key_expiration = int(key_info["keyExpiration"])
        intermediate_key = _public_key(key_info["keyValue"])
    except (KeyError, ValueError, TypeError, binascii.Error) as exc:
        raise CallbackInvalid(BAD_JSON) from exc
    if key_expiration <= now_ms:
        raise CallbackInvalid(INTERMEDIATE_EXPIRED)

    # 4: the message was signed by it, for us.
    recipient = str(settings.GOOGLE_WALLET_ISSUER_ID)
    data = signed_bytes(SENDER_ID, recipient, PROTOCOL, signed_message)
    if not _verifies(intermediate_key, signature, data):
        raise CallbackInvalid(BAD_SIGNATURE)

    # 5: and is not stale.
    message = _json_object(signed_message)
    try:
        exp_time_millis = int(message["expTimeMillis"])
        parsed = CallbackMessage(
            class_id=str(message["classId"]),
            object_id=str(message["objectId"]),
            event_type=str(message["eventType"]),
            nonce=str(message["nonce"]),
            exp_time_millis=exp_time_millis,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CallbackInvalid(BAD_MESSAGE) from exc
    if exp_time_millis <= now_ms:
        raise CallbackInvalid(MESSAGE_EXPIRED)
    if parsed.event_type not in EVENTS or not parsed.nonce or not parsed.object_id:
        raise CallbackInvalid(BAD_MESSAGE)
    return parsed
