"""The member card as an Apple Wallet pass: a signed `storeCard` .pkpass (Apple's WalletPasses).

A .pkpass is a zip of:
- `pass.json`: the card (formatVersion 1, the pass type and team, the serial and the
  authenticationToken of the member's WalletPass, webServiceURL, brand colours, the member
  number as a QR code, and the storeCard's fields, all from `loyalty.selectors_wallet.WalletCard`
  so Apple's card and Google's never disagree);
- the images (icon, logo, strip, each with its @2x), made once and committed under
  loyalty/wallet/assets/;
- `en.lproj/pass.strings` and `zh-Hant.lproj/pass.strings`: the labels and messages, keyed in
  pass.json and translated through the project's own catalogue (the wallet picks the phone's
  language);
- `manifest.json`: the SHA-1 of every file above;
- `signature`: a detached PKCS#7 (DER) over manifest.json, signed with the pass-type certificate
  and key, carrying Apple's WWDR intermediate, with the signing-time attribute Apple requires.

The certificates and the key are read once per process (cached by path and modification time,
so a renewed certificate is picked up without a restart); a missing setting or file raises
ImproperlyConfigured saying which. The images and the .strings files are built once too, so a
pass costs its pass.json, two hashes, one RSA signature and a small zip: `pkpass_build_many`
rebuilds thousands with one `wallet_cards` read per chunk.
"""

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from loyalty.models import WalletPass
from loyalty.selectors_wallet import WalletCard, wallet_cards

CONTENT_TYPE = "application/vnd.apple.pkpass"
ASSETS = Path(__file__).resolve().parent / "assets"
IMAGES = ("icon.png", "icon@2x.png", "logo.png", "logo@2x.png", "strip.png", "strip@2x.png")
# The wallet's languages: the .lproj folder and the Django language that fills it.
LANGUAGES = (("en", "en"), ("zh-Hant", "zh-hant"))
CHUNK = 1_000

# The brand's colours (the app's dark slate and its white); a tier's colour tints the card.
BRAND_BACKGROUND = (31, 41, 55)
FOREGROUND = (255, 255, 255)
LABEL = (203, 213, 225)
TIER_TINT = 0.35


@dataclass(frozen=True)
class SigningMaterial:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    wwdr: x509.Certificate


# --- the signing material, once per process --------------------------------------------------


def _setting_path(name: str) -> Path:
    value = getattr(settings, name, "")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: Apple Wallet passes need the pass-type certificate, its key "
            "and Apple's WWDR certificate (run `manage.py wallet_dev_certificates` in development)."
        )
    path = Path(value)
    if not path.is_file():
        raise ImproperlyConfigured(
            f"{name} points to {path}, which does not exist "
            "(run `manage.py wallet_dev_certificates` in development)."
        )
    return path


def signing_material() -> SigningMaterial:
    """The pass certificate, its key and the WWDR certificate from settings, read once per
    process and read again when a file changes (the cache is keyed by path and mtime)."""
    paths = [
        _setting_path(name)
        for name in (
            "APPLE_WALLET_CERTIFICATE",
            "APPLE_WALLET_KEY",
            "APPLE_WALLET_WWDR_CERTIFICATE",
        )
    ]
    key = tuple((str(path), path.stat().st_mtime_ns) for path in paths)
    return _signing_material_load(key, settings.APPLE_WALLET_KEY_PASSWORD or "")


@cache
def _signing_material_load(files: tuple[tuple[str, int], ...], password: str) -> SigningMaterial:
    (certificate_path, _), (key_path, _), (wwdr_path, _) = files
    try:
        certificate = x509.load_pem_x509_certificate(Path(certificate_path).read_bytes())
        wwdr = _load_certificate(Path(wwdr_path).read_bytes())
        key = serialization.load_pem_private_key(
            Path(key_path).read_bytes(), password=password.encode() or None
        )
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"Apple Wallet signing files cannot be read: {error}") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured("APPLE_WALLET_KEY must be the pass certificate's RSA key.")
    return SigningMaterial(certificate=certificate, key=key, wwdr=wwdr)


def _load_certificate(data: bytes) -> x509.Certificate:
    """PEM, or DER as Apple hands out AppleWWDRCAG4.cer."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def manifest_sign(manifest: bytes, *, material: SigningMaterial | None = None) -> bytes:
    """The detached PKCS#7 signature (DER) of manifest.json. cryptography's default signed
    attributes include the signing time (Apple rejects a signature without it)."""
    material = material or signing_material()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(material.certificate, material.key, hashes.SHA256())
        .add_certificate(material.wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


# --- the files every pass shares, once per process ----------------------------------------------


@cache
def _images() -> dict[str, bytes]:
    return {name: (ASSETS / name).read_bytes() for name in IMAGES}


# The pass's words: pass.json holds the English text, and each lproj's pass.strings maps it to
# that language (a phone in a language the pass lacks shows the English).
STRINGS = {
    "description": gettext_noop("Member card"),
    "points": gettext_noop("Points"),
    "points_changed": gettext_noop("Your points balance is now %@."),
    "tier": gettext_noop("Tier"),
    "member": gettext_noop("Member"),
    "expiring": gettext_noop("Points expiring in 30 days"),
    "expiring_on": gettext_noop("First expiry"),
    "member_no": gettext_noop("Member number"),
    "member_since": gettext_noop("Member since"),
    "message": gettext_noop("Message"),
    "terms": gettext_noop("Programme terms"),
    "terms_text": gettext_noop(
        "Points are earned on purchases and can be redeemed for rewards at the till. "
        "Points expire on the date shown in your account; the nearest expiry is on the "
        "front of this card. Show the QR code at the till to earn or redeem."
    ),
}


def _strings_file(strings: dict[str, str]) -> bytes:
    """Apple's .strings format, UTF-16 with its byte-order mark as Apple's guide asks."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [f"{quoted(key)} = {quoted(value)};" for key, value in strings.items()]
    return ("\n".join(lines) + "\n").encode("utf-16")


def _localisations() -> dict[str, bytes]:
    """{zip path: bytes}: each language's pass.strings, from the project's catalogue."""
    files = {}
    for folder, language in LANGUAGES:
        with translation.override(language):
            strings = {text: gettext(text) for text in STRINGS.values()}
        files[f"{folder}.lproj/pass.strings"] = _strings_file(strings)
    return files


@cache
def _static_files() -> tuple[tuple[str, bytes, str], ...]:
    """(name, bytes, sha1) of the files every pass shares."""
    files = {**_images(), **_localisations()}
    return tuple((name, data, _sha1(data)) for name, data in files.items())


# --- pass.json ------------------------------------------------------------------------------------


def _rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({}, {}, {})".format(*colour)


def _background(tier_colour: str) -> tuple[int, int, int]:
    if len(tier_colour) != 7 or not tier_colour.startswith("#"):
        return BRAND_BACKGROUND
    try:
        tier = tuple(int(tier_colour[i : i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        return BRAND_BACKGROUND
    return tuple(  # type: ignore[return-value]
        round(base * (1 - TIER_TINT) + tint * TIER_TINT)
        for base, tint in zip(BRAND_BACKGROUND, tier, strict=True)
    )


def _w3c_date(day: date) -> str:
    """A day as the W3C date-time the wallet wants (local midnight, with its offset)."""
    return timezone.make_aware(datetime.combine(day, time.min)).isoformat()


def pass_json(*, wallet_pass: WalletPass, card: WalletCard) -> dict:
    """pass.json of a member's storeCard (Apple's Pass and PassFields objects)."""
    auxiliary = [
        {
            "key": "expiring",
            "label": STRINGS["expiring"],
            "value": card.expiring_points,
            "numberStyle": "PKNumberStyleDecimal",
        }
    ]
    if card.expiring_on is not None:
        auxiliary.append(
            {
                "key": "expiring_on",
                "label": STRINGS["expiring_on"],
                "value": _w3c_date(card.expiring_on),
                "dateStyle": "PKDateStyleMedium",
                "timeStyle": "PKDateStyleNone",
                "ignoresTimeZone": True,
                "textAlignment": "PKTextAlignmentRight",
            }
        )
    back = []
    if wallet_pass.change_message:
        # "%@" alone: the wallet's notification is the message itself. The wallet notifies
        # only when the VALUE changes: each reminder's text names its month
        # (loyalty.services.points_reminder). It stays on the back until the next replaces it.
        back.append(
            {
                "key": "message",
                "label": STRINGS["message"],
                "value": wallet_pass.change_message,
                "changeMessage": "%@",
            }
        )
    back += [
        {"key": "member_no", "label": STRINGS["member_no"], "value": card.member_no},
        {
            "key": "member_since",
            "label": STRINGS["member_since"],
            "value": _w3c_date(card.member_since),
            "dateStyle": "PKDateStyleMedium",
            "timeStyle": "PKDateStyleNone",
            "ignoresTimeZone": True,
        },
        {"key": "terms", "label": STRINGS["terms"], "value": STRINGS["terms_text"]},
    ]
    return {
        "formatVersion": 1,
        "passTypeIdentifier": settings.APPLE_WALLET_PASS_TYPE_ID,
        "teamIdentifier": settings.APPLE_WALLET_TEAM_ID,
        "serialNumber": wallet_pass.serial,
        "authenticationToken": wallet_pass.authentication_token,
        "webServiceURL": settings.APPLE_WALLET_WEB_SERVICE_URL,
        "organizationName": settings.APPLE_WALLET_ORGANIZATION_NAME,
        "description": STRINGS["description"],
        "logoText": settings.APPLE_WALLET_ORGANIZATION_NAME,
        "foregroundColor": _rgb(FOREGROUND),
        "backgroundColor": _rgb(_background(card.tier_colour)),
        "labelColor": _rgb(LABEL),
        "sharingProhibited": True,
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": card.member_no,
                "messageEncoding": "iso-8859-1",
                "altText": card.member_no,
            }
        ],
        "storeCard": {
            "primaryFields": [
                {
                    "key": "points",
                    "label": STRINGS["points"],
                    "value": card.points,
                    "numberStyle": "PKNumberStyleDecimal",
                    "changeMessage": STRINGS["points_changed"],
                }
            ],
            "secondaryFields": [
                {
                    "key": "tier",
                    "label": STRINGS["tier"],
                    "value": card.tier_name or STRINGS["member"],
                },
                {
                    "key": "member",
                    "label": STRINGS["member"],
                    "value": card.name,
                    "textAlignment": "PKTextAlignmentRight",
                },
            ],
            "auxiliaryFields": auxiliary,
            "backFields": back,
        },
    }


# --- the .pkpass ----------------------------------------------------------------------------------


def _sha1(data: bytes) -> str:
    # Apple's manifest format names SHA-1: a file checksum under the signature, not a secret.
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _zip(files: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            # PNGs are compressed already: stored, they cost nothing to zip.
            method = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, method)
    return buffer.getvalue()


def _package(*, wallet_pass: WalletPass, card: WalletCard, material: SigningMaterial) -> bytes:
    pass_bytes = json.dumps(
        pass_json(wallet_pass=wallet_pass, card=card), ensure_ascii=False, separators=(",", ":")
    ).encode()
    shared = _static_files()
    manifest = {name: sha1 for name, _, sha1 in shared}
    manifest["pass.json"] = _sha1(pass_bytes)
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    signature = manifest_sign(manifest_bytes, material=material)
    return _zip(
        [
            ("pass.json", pass_bytes),
            *((name, data) for name, data, _ in shared),
            ("manifest.json", manifest_bytes),
            ("signature", signature),
        ]
    )


def pkpass_build(*, wallet_pass: WalletPass, card: WalletCard | None = None) -> bytes:
    """The member's signed .pkpass. Raises ImproperlyConfigured when the certificates are
    missing; `card`, when the caller read it already, saves the `wallet_cards` query."""
    if card is None:
        card = wallet_cards(member_ids=[wallet_pass.member_id])[wallet_pass.member_id]
    return _package(wallet_pass=wallet_pass, card=card, material=signing_material())


def pkpass_build_many(
    *, wallet_passes: Sequence[WalletPass], today: date | None = None
) -> Iterator[tuple[WalletPass, bytes]]:
    """(wallet pass, .pkpass) for many passes, one `wallet_cards` read per CHUNK passes; a
    generator, so 100,000 passes never sit in memory at once."""
    material = signing_material()
    for start in range(0, len(wallet_passes), CHUNK):
        chunk = wallet_passes[start : start + CHUNK]
        cards = wallet_cards(member_ids=[p.member_id for p in chunk], today=today)
        for wallet_pass in chunk:
            card = cards.get(wallet_pass.member_id)
            if card is not None:
                yield wallet_pass, _package(wallet_pass=wallet_pass, card=card, material=material)


def pkpass_filename(wallet_pass: WalletPass) -> str:
    return f"member-card-{wallet_pass.serial[:8]}.pkpass"


def pkpasses_build(*, wallet_pass_ids: Sequence[int], today: date | None = None) -> list[bytes]:
    """The .pkpass of each Apple pass id, in the order given (an id that is not an Apple pass
    is left out): three queries for any number up to CHUNK (the passes, then `wallet_cards`).
    The bench's and a batch job's entry point: call it per chunk of ids."""
    by_id = WalletPass.objects.filter(
        pk__in=list(wallet_pass_ids), platform=WalletPass.Platform.APPLE
    ).in_bulk()
    ordered = [by_id[pk] for pk in wallet_pass_ids if pk in by_id]
    return [data for _, data in pkpass_build_many(wallet_passes=ordered, today=today)]
