"""Apple's wallet updater: tell every device holding a changed pass through APNs.

The protocol, as Apple documents it ("Sending notification requests to APNs", "Establishing a
token-based connection to APNs", "Handling error responses from APNs", and Wallet's "Updating
a pass" / "Adding a web service to update passes"):

- HTTP/2 to APNS_BASE_URL (production https://api.push.apple.com), one POST a device:
  `/3/device/<the push token the device registered>`, headers `apns-topic` = the pass type id
  (APPLE_WALLET_PASS_TYPE_ID), `apns-push-type: background` with `apns-priority: 5` (a push
  that shows nothing itself; Apple rejects priority 10 for that type), `apns-expiration` a
  day ahead (a phone that is off gets it when it is back), and the payload an
  empty JSON dictionary: Wallet ignores it, asks our web service which of its passes changed
  since its tag, and fetches those. So ONE push a device per run, however many of its passes
  changed: a second push would only make it ask the same question again.
- Token-based auth: `authorization: bearer <JWT>`, the JWT signed ES256 with the .p8 key
  APNS_KEY, header kid = APNS_KEY_ID, claims iss = APNS_TEAM_ID and iat. Apple refuses a token
  older than an hour and one renewed more often than every 20 minutes
  (TooManyProviderTokenUpdates), so one token is reused for TOKEN_REUSE_SECONDS (50 minutes)
  by every push of the process, and made anew early only when APNs answers 403
  ExpiredProviderToken (once, however many streams saw it).
- Many streams on ONE connection at a time (CONCURRENCY in flight, multiplexed): 100,000
  pushes are seconds, not the hour that one request after another would take.
- Answers: 200 sent. 410 Unregistered, or 400 BadDeviceToken / DeviceTokenNotForTopic: the
  token is dead for this topic; every registration with it is deleted, and a pass left with no
  device is recorded as removed from the wallet (`wallet_pass_removed`). 429 (too many
  requests for the token), 5xx and connection errors: the device's passes are handed back to
  the push job for its next run. Any other answer is a failure counted with APNs's reason.
"""

import asyncio
import json
import logging
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
from django.conf import settings
from django.db import transaction

from loyalty.models import WalletDeviceRegistration, WalletPass
from loyalty.services.ledger import chunks, where_in
from loyalty.services.wallet import wallet_pass_removed
from loyalty.wallet.updaters import UpdateOutcome, WalletUpdater, register_wallet_updater

logger = logging.getLogger(__name__)

PUSH_TYPE = "background"
PRIORITY = "5"
PAYLOAD = b"{}"
CONCURRENCY = 500  # streams in flight on the one connection
TOKEN_REUSE_SECONDS = 50 * 60
# A phone that is off gets the push when it is back, within a day: APNs keeps the last one per
# topic and device, and one is enough (the device asks for everything changed since its tag).
KEEP_SECONDS = 24 * 3600
TIMEOUT_SECONDS = 30
DEAD_TOKEN_REASONS = {"BadDeviceToken", "DeviceTokenNotForTopic"}  # with 400; 410 is any reason
ERRORS_KEPT = 10


@dataclass
class DevicePush:
    """One push: a device's push token and the changed passes it holds."""

    push_token: str
    pass_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class PushResult:
    push: DevicePush
    status: int | None  # None: no answer (connection error, timeout)
    reason: str = ""


# -- the provider token ------------------------------------------------------------------------


class ProviderToken:
    """The JWT every push of this process carries, made once and reused (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = ""
        self._made_at = 0.0
        self._made_for: tuple = ()

    def current(self) -> str:
        wanted = (settings.APNS_KEY, settings.APNS_KEY_ID, settings.APNS_TEAM_ID)
        with self._lock:
            fresh = time.time() - self._made_at < TOKEN_REUSE_SECONDS
            if not (self._value and fresh and self._made_for == wanted):
                self._make(wanted)
            return self._value

    def renew(self, stale: str) -> str:
        """APNs said `stale` expired: a new token, unless another stream renewed it already."""
        with self._lock:
            if self._value == stale:
                self._make((settings.APNS_KEY, settings.APNS_KEY_ID, settings.APNS_TEAM_ID))
            return self._value

    def _make(self, wanted: tuple) -> None:
        key_path, key_id, team_id = wanted
        now = time.time()
        self._value = jwt.encode(
            {"iss": team_id, "iat": int(now)},
            Path(key_path).read_text(),
            algorithm="ES256",
            headers={"kid": key_id},
        )
        self._made_at = now
        self._made_for = wanted


PROVIDER_TOKEN = ProviderToken()


# -- the updater -------------------------------------------------------------------------------


def _run_async(coroutine):
    """Run the sending coroutine in a thread of its own: the caller's thread may already run an
    event loop (an async view, a gevent/eventlet worker, Playwright's sync API in the tests),
    in which asyncio.run() refuses to start a second one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apns") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def apns_update(pass_ids: Sequence[int]) -> UpdateOutcome:
    """Push once to every device registered for these passes; see the module docstring for
    what each answer does. Returns the figures; the passes to retry are in the outcome."""
    pushes = device_pushes(pass_ids=pass_ids)
    outcome = UpdateOutcome()
    if not pushes:
        return outcome
    results = _run_async(pushes_send(pushes))
    dead_tokens: list[str] = []
    retry: set[int] = set()
    for result in results:
        if result.status == 200:
            outcome.sent += 1
            continue
        if result.status == 410 or (result.status == 400 and result.reason in DEAD_TOKEN_REASONS):
            dead_tokens.append(result.push.push_token)
            _note(outcome, f"{result.status} {result.reason}: registration deleted")
            outcome.failed += 1
        elif result.status is None or result.status == 429 or result.status >= 500:
            retry.update(result.push.pass_ids)
            _note(outcome, f"{result.status or 'no answer'} {result.reason}: retried next run")
        else:
            outcome.failed += 1
            _note(outcome, f"{result.status} {result.reason}")
    if dead_tokens:
        registrations_drop(push_tokens=dead_tokens)
    outcome.retry_pass_ids = sorted(retry)
    return outcome


def _note(outcome: UpdateOutcome, error: str) -> None:
    if len(outcome.errors) < ERRORS_KEPT and error not in outcome.errors:
        outcome.errors.append(error)


def device_pushes(*, pass_ids: Sequence[int]) -> list[DevicePush]:
    """One push a device push token, with the passes it holds among these: one query a chunk
    (one on PostgreSQL)."""
    by_token: dict[str, DevicePush] = {}
    for chunk in chunks(sorted(set(pass_ids))):
        rows = where_in(
            WalletDeviceRegistration.objects, "wallet_pass_id", chunk, cast="bigint"
        ).values_list("push_token", "wallet_pass_id")
        for push_token, pass_id in rows:
            by_token.setdefault(push_token, DevicePush(push_token)).pass_ids.add(pass_id)
    return list(by_token.values())


def registrations_drop(*, push_tokens: Sequence[str]) -> int:
    """APNs says these push tokens are dead for our topic: delete every registration with one,
    and record each pass left with no device as removed from the wallet. Returns the
    registrations deleted."""
    with transaction.atomic():
        registrations = WalletDeviceRegistration.objects.filter(push_token__in=push_tokens)
        pass_ids = set(registrations.values_list("wallet_pass_id", flat=True))
        deleted, _ = registrations.delete()
        still_held = set(
            WalletDeviceRegistration.objects.filter(wallet_pass_id__in=pass_ids)
            .values_list("wallet_pass_id", flat=True)
            .distinct()
        )
        orphans = list(WalletPass.objects.filter(pk__in=pass_ids - still_held, installed=True))
    for wallet_pass in orphans:  # rare (phones reset or the pass deleted offline)
        wallet_pass_removed(wallet_pass=wallet_pass)
    return deleted


# -- HTTP/2 ------------------------------------------------------------------------------------


def ssl_context() -> ssl.SSLContext:
    """The system's CAs, or APNS_CA_FILE's (tests and the bench: the local server's)."""
    context = ssl.create_default_context(cafile=settings.APNS_CA_FILE or None)
    context.set_alpn_protocols(["h2"])
    return context


async def pushes_send(
    pushes: Sequence[DevicePush], *, concurrency: int = CONCURRENCY
) -> list[PushResult]:
    """Send every push over one HTTP/2 connection, `concurrency` streams at a time."""
    results: list[PushResult] = []
    queue = iter(pushes)
    async with httpx.AsyncClient(
        http2=True,
        base_url=settings.APNS_BASE_URL,
        verify=ssl_context(),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
    ) as client:

        async def worker() -> None:
            for push in queue:  # the workers share one iterator: each push is sent once
                results.append(await push_send(client, push))

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(pushes)))))
    return results


async def push_send(client: httpx.AsyncClient, push: DevicePush) -> PushResult:
    """One push; a 403 ExpiredProviderToken is retried once with a renewed token."""
    token = PROVIDER_TOKEN.current()
    expiration = str(int(time.time()) + KEEP_SECONDS)
    for attempt in range(2):
        try:
            response = await client.post(
                f"/3/device/{push.push_token}",
                content=PAYLOAD,
                headers={
                    "authorization": f"bearer {token}",
                    "apns-topic": settings.APPLE_WALLET_PASS_TYPE_ID,
                    "apns-push-type": PUSH_TYPE,
                    "apns-priority": PRIORITY,
                    "apns-expiration": expiration,
                    "content-type": "application/json",
                },
            )
        except httpx.TransportError as exc:
            return PushResult(push, None, type(exc).__name__)
        reason = _reason(response)
        if response.status_code == 403 and reason == "ExpiredProviderToken" and attempt == 0:
            token = PROVIDER_TOKEN.renew(token)
            continue
        return PushResult(push, response.status_code, reason)
    raise AssertionError("unreachable")  # pragma: no cover


def _reason(response: httpx.Response) -> str:
    if response.status_code == 200 or not response.content:
        return ""
    try:
        return str(json.loads(response.content).get("reason", ""))
    except (ValueError, AttributeError):
        return ""


APPLE_UPDATER = WalletUpdater(platform=WalletPass.Platform.APPLE, update=apns_update)


def register_apple_wallet_updater() -> None:
    register_wallet_updater(APPLE_UPDATER)
