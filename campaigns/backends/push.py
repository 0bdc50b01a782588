"""Push: FCM HTTP v1 for the app's tokens, Web Push (VAPID) for browser subscriptions.

One backend for the channel, two transports: the pipeline's address carries which one
(campaigns/reachability.py: extra["transport"] is "fcm" or "webpush"). Both providers take
one message per request, so `max_batch_size` is 1 and each outcome is committed before the
next message goes; neither drops a repeated request, so `idempotent` is False and a dead
worker's message in flight ends "outcome unknown" rather than going twice.

- FCM: an OAuth2 access token from the service account's JSON key (google-auth signs a JWT
  and trades it at the key's token_uri), then `POST {FCM_API_BASE_URL}/v1/projects/{project}/
  messages:send`. A token FCM calls UNREGISTERED (404), or an INVALID_ARGUMENT (400) about the
  token itself, is gone: the pipeline removes it. A 401 means our access token expired early:
  refresh once and repeat.
- Web Push (RFC 8030/8291/8292): pywebpush encrypts the payload (aes128gcm) with the
  subscription's keys and signs a VAPID JWT for the push service's origin. 404/410 mean the
  subscription is gone.

429 and 5xx are retryable (with the provider's Retry-After); other 4xx are not.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any

import google.auth.transport.requests
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from campaigns.backends.base import ChannelBackend, OutboundMessage, SendResult
from campaigns.backends.http_errors import request_never_sent
from campaigns.backends.retry_after import retry_after_seconds
from campaigns.models import DeliveryReason

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TIMEOUT_SECONDS = 15
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# FCM's answers that a request may later succeed: quota, its own outage, an internal error.
RETRYABLE_STATUS = {429, 500, 502, 503, 504}

# Access tokens live an hour; every batch builds a backend, so the credentials (and their
# token) are shared by the process rather than fetched again for each batch.
_credentials: dict[tuple[str, float], service_account.Credentials] = {}
_credentials_lock = threading.Lock()


def fcm_credentials(path: str) -> service_account.Credentials:
    """The service account's credentials, one per key file (and its version) per process."""
    key = (path, os.path.getmtime(path))
    with _credentials_lock:
        credentials = _credentials.get(key)
        if credentials is None:
            credentials = service_account.Credentials.from_service_account_file(
                path, scopes=[FCM_SCOPE]
            )
            _credentials[key] = credentials
        return credentials


def vapid_key(value: str) -> Vapid:
    """WEBPUSH_VAPID_PRIVATE_KEY: a PEM/DER file's path, or the key itself (base64url raw
    or DER). The file is checked first: py_vapid would silently make a new key for a path
    that does not exist."""
    if os.path.isfile(value):
        return Vapid.from_file(private_key_file=value)
    if value.lstrip().startswith("-----BEGIN"):
        return Vapid.from_pem(value.strip().encode())
    try:
        return Vapid.from_string(private_key=value)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "WEBPUSH_VAPID_PRIVATE_KEY is neither a key file nor a key"
        ) from exc


def fcm_message(message: OutboundMessage) -> dict[str, Any]:
    """The FCM v1 Message for one member's push content."""
    content = message.content
    notification = {"title": content.get("title", ""), "body": content.get("body", "")}
    if content.get("image"):
        notification["image"] = content["image"]
    # data values must be strings; the app opens `url` when the notification is tapped.
    data = {"delivery": message.key}
    for key in ("url", "tracking"):  # tracking: the code the app reports when it is opened
        if content.get(key):
            data[key] = content[key]
    body: dict[str, Any] = {
        "token": message.address,
        "notification": notification,
        "data": data,
        # A marketing message is not urgent: normal priority lets Android batch it in Doze.
        "android": {"priority": "normal"},
        "apns": {"headers": {"apns-priority": "5"}},
    }
    if content.get("url"):
        body["webpush"] = {"fcm_options": {"link": content["url"]}}
    return {"message": body}


def webpush_payload(message: OutboundMessage) -> bytes:
    """What the service worker's push event reads (event.data.json())."""
    content = message.content
    payload = {"title": content.get("title", ""), "body": content.get("body", "")}
    for key in ("url", "image", "tracking"):
        if content.get(key):
            payload[key] = content[key]
    payload["tag"] = message.key
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _fcm_error(response: requests.Response) -> tuple[str, str, list[dict]]:
    """(status, FCM errorCode, details) of an FCM error body; blanks when it is not one."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return "", "", []
    if not isinstance(error, dict):
        return "", "", []
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    code = next((d.get("errorCode", "") for d in details if d.get("@type") == FCM_ERROR_TYPE), "")
    return str(error.get("status", "")), str(code), details


def _about_the_token(details: list[dict], message_text: str) -> bool:
    """An INVALID_ARGUMENT that names the token (not the payload): the token is malformed,
    so no retry and no later campaign can reach it."""
    for detail in details:
        if detail.get("@type") == BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or []:
                if str(violation.get("field", "")).endswith("token"):
                    return True
    return "registration token" in message_text.lower()


class PushBackend(ChannelBackend):
    channel = "push"
    name = "push"
    max_batch_size = 1
    idempotent = False

    def __init__(self) -> None:
        self.session = requests.Session()
        self._vapid: Vapid | None = None

    def close(self) -> None:
        self.session.close()

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        return [self._send_one(message) for message in messages]

    def _send_one(self, message: OutboundMessage) -> SendResult:
        transport = message.extra.get("transport", "fcm")
        try:
            if transport == "webpush":
                return self._send_webpush(message)
            return self._send_fcm(message)
        except requests.RequestException as exc:
            if request_never_sent(exc):
                return SendResult.failed(
                    f"{transport}: {exc}", reason=DeliveryReason.PROVIDER_ERROR, retryable=True
                )
            # The push service may have taken it (no idempotency key): never a second push.
            return SendResult.failed(
                f"{transport}: no answer ({exc})", reason=DeliveryReason.OUTCOME_UNKNOWN
            )
        except GoogleAuthError as exc:
            # The token endpoint refused the service account (a revoked key: not retryable)
            # or did not answer (retryable); google-auth says which.
            return SendResult.failed(
                f"FCM OAuth2: {exc}",
                reason=DeliveryReason.PROVIDER_ERROR,
                retryable=bool(getattr(exc, "retryable", True)),
            )

    # -- FCM -------------------------------------------------------------------------------

    def _send_fcm(self, message: OutboundMessage) -> SendResult:
        path = settings.FCM_SERVICE_ACCOUNT_FILE
        if not path:
            return SendResult.failed("FCM_SERVICE_ACCOUNT_FILE is not set")
        credentials = fcm_credentials(path)
        url = f"{settings.FCM_API_BASE_URL}/v1/projects/{credentials.project_id}/messages:send"
        body = fcm_message(message)
        response = self._fcm_post(credentials, url, body, refresh=False)
        if response.status_code == 401:
            # The access token was revoked or expired before its stated time: one new one.
            response = self._fcm_post(credentials, url, body, refresh=True)
        if response.ok:
            try:
                return SendResult.sent(str(response.json().get("name", "")))
            except ValueError:
                return SendResult.sent("")
        status, code, details = _fcm_error(response)
        text = f"FCM {response.status_code} {code or status}: {response.text[:300]}"
        if response.status_code == 404 or code == "UNREGISTERED":
            return SendResult.failed(text, reason=DeliveryReason.ADDRESS_INVALID, address_gone=True)
        if response.status_code == 400 and _about_the_token(details, response.text):
            return SendResult.failed(text, reason=DeliveryReason.ADDRESS_INVALID, address_gone=True)
        if response.status_code in RETRYABLE_STATUS:
            return SendResult.failed(
                text,
                reason=DeliveryReason.PROVIDER_ERROR,
                retryable=True,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        return SendResult.failed(text)

    def _fcm_post(
        self, credentials: service_account.Credentials, url: str, body: dict, *, refresh: bool
    ) -> requests.Response:
        with _credentials_lock:
            if refresh or not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request(self.session))
            token = credentials.token
        return self.session.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_SECONDS,
        )

    # -- Web Push --------------------------------------------------------------------------

    def _send_webpush(self, message: OutboundMessage) -> SendResult:
        if not settings.WEBPUSH_VAPID_PRIVATE_KEY:
            return SendResult.failed("WEBPUSH_VAPID_PRIVATE_KEY is not set")
        if self._vapid is None:
            self._vapid = vapid_key(settings.WEBPUSH_VAPID_PRIVATE_KEY)
        subscription = {
            "endpoint": message.address,
            "keys": {
                "p256dh": message.extra.get("p256dh", ""),
                "auth": message.extra.get("auth", ""),
            },
        }
        try:
            response = webpush(
                subscription,
                data=webpush_payload(message),
                vapid_private_key=self._vapid,
                # A new dict per call: webpush() fills in aud (this endpoint's origin) and exp.
                vapid_claims={"sub": settings.WEBPUSH_VAPID_SUBJECT},
                content_encoding="aes128gcm",
                ttl=settings.WEBPUSH_TTL_SECONDS,
                timeout=TIMEOUT_SECONDS,
                requests_session=self.session,
            )
        except WebPushException as exc:
            return self._webpush_refused(exc)
        except ValueError as exc:  # keys that are not a P-256 point / 16-byte secret
            return SendResult.failed(
                f"Web Push: bad subscription keys: {exc}",
                reason=DeliveryReason.ADDRESS_INVALID,
                address_gone=True,
            )
        return SendResult.sent(response.headers.get("Location", "") or message.key)

    def _webpush_refused(self, exc: WebPushException) -> SendResult:
        status = exc.status_code
        if status is None:
            return SendResult.failed(
                f"Web Push: {exc.message}", reason=DeliveryReason.PROVIDER_ERROR, retryable=True
            )
        text = f"Web Push {status}: {(exc.response.text or '')[:300]}"
        if status in (404, 410):
            return SendResult.failed(text, reason=DeliveryReason.ADDRESS_INVALID, address_gone=True)
        if status in RETRYABLE_STATUS:
            return SendResult.failed(
                text,
                reason=DeliveryReason.PROVIDER_ERROR,
                retryable=True,
                retry_after=retry_after_seconds(exc.retry_after),
            )
        return SendResult.failed(text)
