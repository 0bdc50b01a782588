"""Google Wallet's public addresses: the "Save to Google Wallet" redirect behind the signed
add-to-wallet link, and Google's save/delete callbacks (verified by their signature)."""

from django.contrib.auth.decorators import login_not_required
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


@require_GET
@login_not_required
@never_cache
def add_google(request: HttpRequest, token: str) -> HttpResponse:
    """Issue the member's Google card and send the phone to Google's save page."""
    try:
        member_no = wallet_link_member_no(token)
    except WalletLinkInvalid as exc:
        return _link_invalid(request, expired=str(exc) == "expired")
    member_id = (
        Member.objects.filter(member_no=member_no, status=Member.Status.ACTIVE)
        .values_list("pk", flat=True)
        .first()
    )
    if member_id is None:
        raise Http404
    wallet_pass = wallet_pass_issue(member_id=member_id, platform=WalletPass.Platform.GOOGLE)
    return redirect(google_save_url(wallet_pass=wallet_pass))


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
