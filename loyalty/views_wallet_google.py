"""Google Wallet's public addresses: the "Save to Google Wallet" redirect behind the signed
add-to-wallet link, and Google's save/delete callbacks (verified by their signature)."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from crm.models import Member
from loyalty.models import WalletPass
from loyalty.services.wallet import wallet_pass_issue
from loyalty.services.wallet_google import google_callback_receive
from loyalty.wallet.google import google_save_url
from loyalty.wallet.google_callbacks import CallbackInvalid
from loyalty.wallet.links import WalletLinkInvalid, wallet_link_member_no

logger = logging.getLogger(__name__)


def _link_invalid(request: HttpRequest, *, expired: bool) -> HttpResponse:
    if expired:
        reason = _("This wallet link has expired. Ask for a new one at the counter or the app.")
    else:
        reason = _("This wallet link is not valid. Check that it was copied whole.")
    return render(
        request,
        "loyalty/wallet_google_link_invalid.html",
        {"reason": reason},
        status=410 if expired else 404,
    )


MERGE_HOPS = 5  # a member merged into one later merged again: follow a few hops, not forever


def _active_member_id(member_no: str) -> int | None:
    """The member a link was made for, or the survivor they were merged into since."""
    row = Member.objects.filter(member_no=member_no).values("pk", "status", "merged_into").first()
    for _hop in range(MERGE_HOPS):
        if row is None or row["status"] == Member.Status.ACTIVE:
            break
        if row["status"] != Member.Status.MERGED or row["merged_into"] is None:
            return None
        row = (
            Member.objects.filter(pk=row["merged_into"])
            .values("pk", "status", "merged_into")
            .first()
        )
    if row is None or row["status"] != Member.Status.ACTIVE:
        return None
    return row["pk"]


@require_GET
@login_not_required
@never_cache
def add_google(request: HttpRequest, token: str) -> HttpResponse:
    """Issue the member's Google card and send the phone to Google's save page."""
    try:
        member_no = wallet_link_member_no(token)
    except WalletLinkInvalid as exc:
        return _link_invalid(request, expired=exc.expired)
    member_id = _active_member_id(member_no)
    if member_id is None:
        raise Http404
    wallet_pass = wallet_pass_issue(member_id=member_id, platform=WalletPass.Platform.GOOGLE)
    try:
        url = google_save_url(wallet_pass=wallet_pass)
    except ImproperlyConfigured:
        # The operator's to fix (the service account's key); the member gets a page, not a 500.
        logger.exception("Google Wallet save link not made")
        reason = _("Google Wallet is not available right now. Please try again later.")
        return render(
            request, "loyalty/wallet_google_link_invalid.html", {"reason": reason}, status=503
        )
    return redirect(url)


@csrf_exempt
@require_POST
@login_not_required
def google_callback(request: HttpRequest) -> HttpResponse:
    """Google's save/delete callback: 200 once recorded (or a repeat), 400 with the reason when
    the message is not Google's, has expired, or is not a callback."""
    try:
        google_callback_receive(body=request.body)
    except CallbackInvalid as exc:
        return JsonResponse({"error": exc.reason}, status=400)
    return JsonResponse({"status": "ok"})
