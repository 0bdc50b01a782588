"""Google Wallet's updater: the push job hands it the changed Google cards, it patches each
member's loyalty object through the Wallet REST API (walletobjects v1).

For each card: `PATCH {GOOGLE_WALLET_API_BASE_URL}/walletobjects/v1/loyaltyObject/{id}` with the
object as `wallet_cards` builds it now. A 404 means Google has no such object yet (the member
opened the save link but Google never inserted it, or it was made before this programme's
class): the class is inserted once per process if Google does not have it, then the object is
inserted (`POST …/loyaltyObject`; a 409 there means it appeared meanwhile: patch it again).

Authorisation: an OAuth2 access token for the service account (google-auth signs a JWT with the
key and trades it at the key's token_uri, scope wallet_object.issuer), shared by the process
until it expires; a 401 refreshes it once and repeats the call. 429 and 5xx (and a request that
got no answer) put the card in `retry_pass_ids`: the push job tries it again on its next run.
Other 4xx are failures the log shows (a rejected object would be rejected again).

Bounded concurrency: GOOGLE_WALLET_CONCURRENCY requests in flight from a thread pool sharing
one requests Session (its connection pool the same size), cards read and built CHUNK at a time
(one `wallet_cards` read per chunk), so 100,000 cards never sit in memory at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import google.auth.transport.requests
import requests
from django.conf import settings
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account as google_service_account
from requests.adapters import HTTPAdapter

from loyalty.models import WalletPass
from loyalty.wallet.google import (
    SCOPE,
    ServiceAccount,
    class_id,
    loyalty_class,
    loyalty_objects,
    service_account,
)
from loyalty.wallet.updaters import UpdateOutcome, WalletUpdater, register_wallet_updater

logger = logging.getLogger(__name__)

CHUNK = 1_000
TIMEOUT_SECONDS = 15
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_ERRORS = 10  # errors kept for the log

SENT, RETRY, FAILED = "sent", "retry", "failed"

# The access token lives an hour: the credentials (and their token) are the process's, one per
# service account key, refreshed under the lock by the first thread that finds them stale.
_credentials: dict[tuple[str, str], google_service_account.Credentials] = {}
_credentials_lock = threading.Lock()
# Classes Google is known to hold ((base URL, class id)): checked at most once per process.
_classes_known: set[tuple[str, str]] = set()
_classes_lock = threading.Lock()


def _credentials_for(account: ServiceAccount) -> google_service_account.Credentials:
    key = (account.path, account.info.get("private_key_id", account.client_email))
    with _credentials_lock:
        credentials = _credentials.get(key)
        if credentials is None:
            credentials = google_service_account.Credentials.from_service_account_info(
                account.info, scopes=[SCOPE]
            )
            _credentials.clear()
            _credentials[key] = credentials
        return credentials


def google_wallet_forget() -> None:
    """Drop the process's access token and known classes (tests; a key rotated by hand)."""
    with _credentials_lock:
        _credentials.clear()
    with _classes_lock:
        _classes_known.clear()


class WalletApi:
    """The few walletobjects calls the updater makes, with the process's access token."""

    def __init__(self, *, concurrency: int) -> None:
        self.base = f"{settings.GOOGLE_WALLET_API_BASE_URL}/walletobjects/v1"
        self.credentials = _credentials_for(service_account())
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def _token(self, *, stale: str | None = None) -> str:
        with _credentials_lock:
            # Refresh when expired, or when the caller's token was refused and nobody has
            # refreshed it since (a burst of 401s makes one new token, not one per thread).
            if not self.credentials.valid or (stale and self.credentials.token == stale):
                self.credentials.refresh(google.auth.transport.requests.Request(self.session))
            return self.credentials.token

    def request(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        token = self._token()
        response = self._send(method, path, body, token)
        if response.status_code == 401:
            response = self._send(method, path, body, self._token(stale=token))
        return response

    def _send(self, method: str, path: str, body: dict | None, token: str) -> requests.Response:
        return self.session.request(
            method,
            f"{self.base}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_SECONDS,
        )

    def class_ensure(self) -> None:
        """Insert the programme's class unless Google has it (once per process)."""
        known = (self.base, class_id())
        with _classes_lock:
            if known in _classes_known:
                return
            response = self.request("GET", f"loyaltyClass/{quote(class_id(), safe='')}")
            if response.status_code == 404:
                response = self.request("POST", "loyaltyClass", loyalty_class())
                if response.status_code == 409:  # inserted meanwhile by another process
                    response.status_code = 200
            response.raise_for_status()
            _classes_known.add(known)

    def object_put(self, obj: dict[str, Any]) -> tuple[str, str]:
        """(SENT | RETRY | FAILED, error) for one loyalty object: patch, or insert if new."""
        try:
            path = f"loyaltyObject/{quote(obj['id'], safe='')}"
            response = self.request("PATCH", path, obj)
            if response.status_code == 404:
                self.class_ensure()
                response = self.request("POST", "loyaltyObject", obj)
                if response.status_code == 409:
                    response = self.request("PATCH", path, obj)
        except (requests.RequestException, GoogleAuthError) as exc:
            # No answer, or the token endpoint did not answer: Google may take it next time.
            # (A patch carries the whole state, so sending it twice is harmless.)
            return RETRY, f"{obj['id']}: {exc}"
        if response.ok:
            return SENT, ""
        error = f"{obj['id']}: {response.status_code} {response.text[:200]}"
        if response.status_code in RETRYABLE_STATUS:
            return RETRY, error
        return FAILED, error


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def google_wallet_update(pass_ids: Sequence[int]) -> UpdateOutcome:
    """Patch the Google loyalty objects of these cards (WalletPass ids); see the module's doc."""
    outcome = UpdateOutcome()
    ids = sorted(set(pass_ids))
    if not ids:
        return outcome
    concurrency = max(1, settings.GOOGLE_WALLET_CONCURRENCY)
    api = WalletApi(concurrency=concurrency)
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for chunk in _chunks(ids):
                passes = list(
                    # Only cards in a wallet (Google's save callback said so): a card
                    # never saved, or deleted, gets its content from the save link's JWT when
                    # it is saved, and patching (or, on a 404, inserting) it would create
                    # objects at Google for people who never saved one.
                    WalletPass.objects.filter(
                        pk__in=chunk, platform=WalletPass.Platform.GOOGLE, installed=True
                    ).only("pk", "member_id", "serial", "change_message")
                )
                objects = loyalty_objects(passes)
                pass_ids_built = list(objects)
                for pass_id, (result, error) in zip(
                    pass_ids_built, pool.map(api.object_put, objects.values()), strict=True
                ):
                    if result == SENT:
                        outcome.sent += 1
                        continue
                    if result == RETRY:
                        outcome.retry_pass_ids.append(pass_id)
                    else:
                        outcome.failed += 1
                    if len(outcome.errors) < MAX_ERRORS:
                        outcome.errors.append(error)
    finally:
        api.close()
    return outcome


def register_google_wallet_updater() -> None:
    register_wallet_updater(
        WalletUpdater(platform=WalletPass.Platform.GOOGLE, update=google_wallet_update)
    )


def retired_object(object_id_: str) -> dict[str, Any]:
    """What Google keeps of a card whose member was erased or merged away: inactive, and
    nothing about the person (no name, no number, no barcode, no figures)."""
    return {
        "id": object_id_,
        "classId": class_id(),
        "state": "INACTIVE",
        "accountId": "",
        "accountName": "",
        "barcode": {"type": "QR_CODE", "value": "-", "alternateText": ""},
        "loyaltyPoints": {"label": "", "balance": {"int": 0}},
        "secondaryLoyaltyPoints": {"label": "", "balance": {"string": ""}},
        "textModulesData": [],
        "messages": [],
    }


def google_objects_retire(*, object_ids: Sequence[str]) -> UpdateOutcome:
    """Blank and deactivate these loyalty objects at Google (one PATCH each; an object Google
    never had is fine). Runs after the erasure or merge that dropped the cards committed: the
    rows are gone, only the ids are left."""
    outcome = UpdateOutcome()
    if not object_ids or not settings.WALLET_PUSH_ENABLED:
        return outcome
    api = WalletApi(concurrency=1)
    try:
        for object_id_ in object_ids:
            path = f"loyaltyObject/{quote(object_id_, safe='')}"
            try:
                response = api.request("PATCH", path, retired_object(object_id_))
            except (requests.RequestException, GoogleAuthError) as exc:
                outcome.failed += 1
                outcome.errors.append(f"{object_id_}: {exc}")
                continue
            if response.ok or response.status_code == 404:
                outcome.sent += response.ok
            else:
                outcome.failed += 1
                outcome.errors.append(f"{object_id_}: {response.status_code}")
    finally:
        api.close()
    if outcome.errors:
        logger.warning("Google Wallet: retiring cards: %s", "; ".join(outcome.errors[:MAX_ERRORS]))
    return outcome
