"""Apple Wallet's public addresses: the .pkpass download of the add-to-wallet page, and Apple's
pass web service (WalletPasses: "Adding a Web Service to Update Passes"), exactly as a device
calls it under the pass's webServiceURL (APPLE_WALLET_WEB_SERVICE_URL = <public>/wallet/apple):

    POST   v1/devices/<device>/registrations/<passTypeIdentifier>/<serialNumber>  201 | 200 | 401
    DELETE v1/devices/<device>/registrations/<passTypeIdentifier>/<serialNumber>  200 | 401
    GET    v1/devices/<device>/registrations/<passTypeIdentifier>?passesUpdatedSince=<tag>
                                                                                   200 | 204
    GET    v1/passes/<passTypeIdentifier>/<serialNumber>                           200 | 304 | 401
    POST   v1/log                                                                  200

The device proves itself with `Authorization: ApplePass <authenticationToken>` (the pass's
own token), except for the serials list and the log, which Apple sends without one. An unknown
pass type answers 404, a body that is not the JSON Apple sends 400 with the reason. No login,
no CSRF token (a device has neither); each view checks its own credential.
"""

import json
import logging
import re

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import http_date, parse_http_date_safe
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.selectors_wallet_apple import apple_serials_updated
from loyalty.services.wallet_apple import (
    WalletMemberUnknown,
    apple_device_register,
    apple_device_unregister,
    apple_pass_authorised,
    apple_pass_for_link,
)
from loyalty.wallet.apple_pass import CONTENT_TYPE, pkpass_build, pkpass_filename
from loyalty.wallet.links import WalletLinkInvalid

logger = logging.getLogger("loyalty.wallet.apple")

ERROR_NOT_JSON = "The body is not a JSON object."
ERROR_PUSH_TOKEN = "pushToken is missing or not a hexadecimal APNs token."  # noqa: S105
ERROR_LOGS = "logs must be a list of strings."
ERROR_DEVICE = "The device library identifier is not valid."
# APNs device tokens are hexadecimal (64 digits today; Apple says they may grow), and the
# token goes into the APNs path: nothing else is accepted. The device's library identifier is
# kept in a 128-character column.
PUSH_TOKEN_PATTERN = re.compile(r"^[0-9a-fA-F]{32,200}$")
DEVICE_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
NO_STORE = "no-store, private"


# --- the add-to-wallet page's Apple download ---------------------------------------------------


@login_not_required
@require_GET
def add_apple(request: HttpRequest, token: str) -> HttpResponse:
    """The member's .pkpass behind the signed link (Safari offers to add it to the wallet)."""
    try:
        link_pass = apple_pass_for_link(token=token)
    except WalletLinkInvalid as error:
        expired = error.expired
        reason = (
            gettext("This link has expired. Ask us for a new one.")
            if expired
            else gettext("This link is not valid. Check that you opened the whole link.")
        )
        return _link_invalid(request, reason, status=410 if expired else 404)
    except WalletMemberUnknown:
        return _link_invalid(request, gettext("This member card is no longer available."), 410)
    response = HttpResponse(link_pass.pkpass, content_type=CONTENT_TYPE)
    response["Content-Disposition"] = (
        f'attachment; filename="{pkpass_filename(link_pass.wallet_pass)}"'
    )
    response["Cache-Control"] = NO_STORE
    return response


def _link_invalid(request: HttpRequest, reason: str, status: int) -> HttpResponse:
    return render(request, "loyalty/wallet_link_invalid.html", {"reason": reason}, status=status)


# --- Apple's pass web service --------------------------------------------------------------


def _known_type(pass_type_id: str) -> bool:
    return pass_type_id == settings.APPLE_WALLET_PASS_TYPE_ID


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def _json_body(request: HttpRequest) -> dict | None:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


@login_not_required
@csrf_exempt
@require_http_methods(["POST", "DELETE"])
def apple_registration(
    request: HttpRequest, device: str, pass_type_id: str, serial: str
) -> HttpResponse:
    if not _known_type(pass_type_id):
        return HttpResponse(status=404)
    wallet_pass = apple_pass_authorised(
        pass_type_id=pass_type_id,
        serial=serial,
        authorization=request.headers.get("Authorization", ""),
    )
    if wallet_pass is None:
        return HttpResponse(status=401)
    if not DEVICE_PATTERN.match(device):
        return _error(400, ERROR_DEVICE)
    if request.method == "DELETE":
        apple_device_unregister(wallet_pass=wallet_pass, device_library_id=device)
        return HttpResponse(status=200)
    body = _json_body(request)
    if body is None:
        return _error(400, ERROR_NOT_JSON)
    push_token = body.get("pushToken")
    if not isinstance(push_token, str) or not PUSH_TOKEN_PATTERN.match(push_token.strip()):
        return _error(400, ERROR_PUSH_TOKEN)
    created = apple_device_register(
        wallet_pass=wallet_pass, device_library_id=device, push_token=push_token.strip()
    )
    return HttpResponse(status=201 if created else 200)


@login_not_required
@csrf_exempt
@require_GET
def apple_serials(request: HttpRequest, device: str, pass_type_id: str) -> HttpResponse:
    if not _known_type(pass_type_id):
        return HttpResponse(status=404)
    updated = apple_serials_updated(
        device_library_id=device, since=request.GET.get("passesUpdatedSince") or None
    )
    if updated is None:
        return HttpResponse(status=204)
    return JsonResponse({"serialNumbers": updated.serials, "lastUpdated": updated.last_updated})


@login_not_required
@csrf_exempt
@require_GET
def apple_pass_latest(request: HttpRequest, pass_type_id: str, serial: str) -> HttpResponse:
    if not _known_type(pass_type_id):
        return HttpResponse(status=404)
    wallet_pass = apple_pass_authorised(
        pass_type_id=pass_type_id,
        serial=serial,
        authorization=request.headers.get("Authorization", ""),
    )
    if wallet_pass is None:
        return HttpResponse(status=401)
    modified = int(wallet_pass.updated_at.timestamp())
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    if since is not None and modified <= since:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(pkpass_build(wallet_pass=wallet_pass), content_type=CONTENT_TYPE)
    response["Last-Modified"] = http_date(modified)
    response["Cache-Control"] = "no-cache"
    return response


@login_not_required
@csrf_exempt
@require_POST
def apple_log(request: HttpRequest) -> HttpResponse:
    """Devices report what went wrong with our web service: into the Python log."""
    body = _json_body(request)
    if body is None:
        return _error(400, ERROR_NOT_JSON)
    logs = body.get("logs")
    if not isinstance(logs, list) or not all(isinstance(line, str) for line in logs):
        return _error(400, ERROR_LOGS)
    for line in logs[:100]:
        # One log record per line the device sent: its own line breaks would forge ours.
        logger.warning("Apple Wallet device log: %s", " ".join(line[:1000].split()))
    return HttpResponse(status=200)
