"""The member card in Google Wallet: the programme's loyalty class, a loyalty object per member,
and the "Save to Google Wallet" link (Google Wallet API, walletobjects v1).

- The class ("<GOOGLE_WALLET_ISSUER_ID>.<GOOGLE_WALLET_CLASS_SUFFIX>") says what every card
  shares: issuer and programme names (zh-Hant and en), the logo (a static file under
  OMNICHANNEL_PUBLIC_URL), the colour, and where Google calls back on a save or a delete.
- An object ("<issuer id>.<WalletPass.serial>") is one member's card, built from the same
  `WalletCard` as Apple's pass (loyalty.selectors_wallet), so the two wallets never disagree:
  member number (accountId and the QR code), name, balance, tier, the points expiring within 30
  days, and the card's change message (a message Google shows, with a notification).
- The save link is `GOOGLE_WALLET_SAVE_URL/<JWT>`: a JWT signed RS256 with the service
  account's private key, `aud` "google", `typ` "savetowallet", carrying the class and the object
  (Google inserts them on the save, or updates nothing if they exist).

The service account's key file (GOOGLE_WALLET_SERVICE_ACCOUNT_FILE) is read once per process
(per path and modification time); the REST updater (loyalty.wallet.google_updater) trades the
same key for OAuth2 access tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from google.auth import crypt
from google.auth import jwt as google_jwt

from loyalty.models import WalletPass
from loyalty.selectors_wallet import WalletCard, wallet_cards

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
SAVE_AUDIENCE = "google"
SAVE_TYPE = "savetowallet"
LOGO = "loyalty/wallet/google-program-logo.png"
# Google's BCP 47 tags for the project's languages (settings.LANGUAGES): the default first.
# Django language -> the BCP 47 tag Google Wallet matches phones against (Taiwan: zh-TW).
LANGUAGES = (("zh-hant", "zh-TW"), ("en", "en"))
# One message per card, the newest change message replacing the last; its id is drawn from the
# text, so a new reminder (its text names its month) is a new message, which Google notifies of
# (the same id again is an update it shows silently).
MESSAGE_ID = "change"


def message_id(change_message: str) -> str:
    """The card message's id for a change message: "change-" and a digest of its text."""
    return f"{MESSAGE_ID}-{hashlib.sha256(change_message.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class ServiceAccount:
    """What the project uses of the service account's JSON key."""

    path: str
    info: dict[str, Any]  # the key file as Google downloads it (google-auth reads it again)
    client_email: str
    token_uri: str
    signer: crypt.RSASigner


_accounts: dict[tuple[str, float], ServiceAccount] = {}
_accounts_lock = threading.Lock()


def service_account() -> ServiceAccount:
    """The service account from GOOGLE_WALLET_SERVICE_ACCOUNT_FILE, read once per process (a new
    file, or the same file changed, is read again). Raises ImproperlyConfigured when the setting
    is empty, or the file is missing or not a service account key."""
    path = settings.GOOGLE_WALLET_SERVICE_ACCOUNT_FILE
    if not path:
        raise ImproperlyConfigured(
            "GOOGLE_WALLET_SERVICE_ACCOUNT_FILE is not set: name the Google Wallet service "
            "account's JSON key (Google Cloud console, IAM, service account keys)."
        )
    try:
        mtime = os.path.getmtime(path)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"GOOGLE_WALLET_SERVICE_ACCOUNT_FILE {path!r} cannot be read ({exc.strerror}): "
            "outside production, `manage.py wallet_dev_certificates` writes a development key."
        ) from exc
    key = (path, mtime)
    with _accounts_lock:
        account = _accounts.get(key)
        if account is None:
            account = _service_account_load(path)
            _accounts.clear()  # one key per process: an older version of the file is gone
            _accounts[key] = account
        return account


def _service_account_load(path: str) -> ServiceAccount:
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
        signer = crypt.RSASigner.from_service_account_info(info)
        return ServiceAccount(
            path=path,
            info=info,
            client_email=info["client_email"],
            token_uri=info["token_uri"],
            signer=signer,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"GOOGLE_WALLET_SERVICE_ACCOUNT_FILE {path!r} is not a service account's JSON key "
            f"({type(exc).__name__}: {exc})."
        ) from exc


# -- ids ------------------------------------------------------------------------------------


def class_id() -> str:
    return f"{settings.GOOGLE_WALLET_ISSUER_ID}.{settings.GOOGLE_WALLET_CLASS_SUFFIX}"


def object_id(serial: str) -> str:
    return f"{settings.GOOGLE_WALLET_ISSUER_ID}.{serial}"


def serial_from_object_id(value: str) -> str | None:
    """The WalletPass serial an object id names, or None when it is not one of our issuer's."""
    prefix = f"{settings.GOOGLE_WALLET_ISSUER_ID}."
    if not value.startswith(prefix) or len(value) == len(prefix):
        return None
    return value[len(prefix) :]


# -- the class and the objects --------------------------------------------------------------


def _localized(make) -> dict[str, Any]:
    """A Google LocalizedString: `make()` evaluated in each of the project's languages."""
    values = []
    for django_code, google_code in LANGUAGES:
        with translation.override(django_code):
            values.append({"language": google_code, "value": str(make())})
    return {"defaultValue": values[0], "translatedValues": values[1:]}


def public_url(path: str) -> str:
    return f"{settings.OMNICHANNEL_PUBLIC_URL}{path}"


def loyalty_class() -> dict[str, Any]:
    """The programme's LoyaltyClass (Google's required fields: id, issuerName, programName,
    programLogo, reviewStatus)."""
    return {
        "id": class_id(),
        "issuerName": settings.GOOGLE_WALLET_ISSUER_NAME,
        "programName": _localized(lambda: _("Member card"))["defaultValue"]["value"],
        "localizedProgramName": _localized(lambda: _("Member card")),
        "programLogo": {
            "sourceUri": {"uri": public_url(static(LOGO))},
            "contentDescription": _localized(lambda: _("Programme logo")),
        },
        "hexBackgroundColor": settings.GOOGLE_WALLET_BACKGROUND_COLOR,
        "countryCode": "TW",
        "reviewStatus": "UNDER_REVIEW",
        "callbackOptions": {"url": public_url(reverse("wallet:google_callback"))},
    }


def loyalty_object(card: WalletCard, wallet_pass: WalletPass) -> dict[str, Any]:
    """One member's LoyaltyObject (Google's required fields: id, classId, state)."""
    obj: dict[str, Any] = {
        "id": object_id(wallet_pass.serial),
        "classId": class_id(),
        "state": "ACTIVE",
        "accountId": card.member_no,
        "accountName": card.name or card.member_no,
        "loyaltyPoints": {
            "label": _localized(lambda: _("Points"))["defaultValue"]["value"],
            "localizedLabel": _localized(lambda: _("Points")),
            "balance": {"int": card.points},
        },
        "barcode": {"type": "QR_CODE", "value": card.member_no, "alternateText": card.member_no},
    }
    if card.tier_name:
        obj["secondaryLoyaltyPoints"] = {
            "label": _localized(lambda: _("Tier"))["defaultValue"]["value"],
            "localizedLabel": _localized(lambda: _("Tier")),
            "balance": {"string": card.tier_name},
        }
    if card.expiring_points and card.expiring_on:
        body = _localized(
            lambda: (
                _("%(points)s points expire on %(date)s")
                % {
                    "points": f"{card.expiring_points:,}",
                    "date": date_format(card.expiring_on, "Y/m/d"),
                }
            )
        )
        header = _localized(lambda: _("Points expiring soon"))
        obj["textModulesData"] = [
            {
                "id": "expiring",
                "header": header["defaultValue"]["value"],
                "body": body["defaultValue"]["value"],
                "localizedHeader": header,
                "localizedBody": body,
            }
        ]
    if wallet_pass.change_message:
        obj["messages"] = [
            {
                "id": message_id(wallet_pass.change_message),
                "header": settings.GOOGLE_WALLET_ISSUER_NAME,
                "body": wallet_pass.change_message,
                # The wallet shows it on the card and notifies the phone.
                "messageType": "TEXT_AND_NOTIFY",
            }
        ]
    return obj


def loyalty_objects(wallet_passes: Sequence[WalletPass]) -> dict[int, dict[str, Any]]:
    """{wallet_pass.pk: LoyaltyObject} for many cards from one `wallet_cards` read; a card whose
    member is gone is left out."""
    cards = wallet_cards(member_ids={p.member_id for p in wallet_passes})
    return {
        p.pk: loyalty_object(cards[p.member_id], p) for p in wallet_passes if p.member_id in cards
    }


# -- "Save to Google Wallet" ----------------------------------------------------------------


def save_jwt(*, objects: Iterable[dict[str, Any]], now: int | None = None) -> str:
    """The signed "savetowallet" JWT carrying the class and the objects."""
    account = service_account()
    claims = {
        "iss": account.client_email,
        "aud": SAVE_AUDIENCE,
        "typ": SAVE_TYPE,
        "iat": int(now if now is not None else time.time()),
        "origins": [settings.OMNICHANNEL_PUBLIC_URL],
        "payload": {"loyaltyClasses": [loyalty_class()], "loyaltyObjects": list(objects)},
    }
    return google_jwt.encode(account.signer, claims).decode()


def google_save_url(*, wallet_pass: WalletPass) -> str:
    """The "Save to Google Wallet" address of a member's card (GOOGLE_WALLET_SAVE_URL/<JWT>).
    Raises ImproperlyConfigured when the service account's key is missing."""
    objects = loyalty_objects([wallet_pass])
    token = save_jwt(objects=objects.values())
    return f"{settings.GOOGLE_WALLET_SAVE_URL.rstrip('/')}/{token}"
