"""The add-to-wallet page (/wallet/add/<token>/): a member opens it from a message or a QR code.

No login and no cookie: the signed token is the only credential (loyalty.wallet.links), and the
page shows nothing that names the member, because a link can be forwarded. The device picks the
button (loyalty.wallet.devices): Apple Wallet on an iPhone, Google Wallet on Android, both and a
QR code of this page on a desktop, to scan with the phone. The language is the visitor's
(Accept-Language), as on the unsubscribe page. An expired link answers 410, an altered one or a
member who is no more 404, each with a page that says so.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from loyalty.qr import url_qr_svg
from loyalty.selectors_wallet_add import wallet_add_page
from loyalty.wallet.devices import ANY, APPLE, GOOGLE, wallet_for_user_agent
from loyalty.wallet.links import WalletLinkInvalid, wallet_link_member_no

ERROR_LINK_EXPIRED = _(
    "This link has expired. Ask us for a new one, or open the latest message we sent you."
)
ERROR_LINK_INVALID = _("This link is not complete or was changed. Open it again from our message.")
SHOW_ALL = "all"  # ?show=all: both wallets and the QR code, whatever the device
NO_STORE = "no-store, private"


@login_not_required
@require_safe
def wallet_add(request: HttpRequest, token: str) -> HttpResponse:
    try:
        member_no = wallet_link_member_no(token)
    except WalletLinkInvalid as error:
        expired = error.expired
        return _invalid(request, ERROR_LINK_EXPIRED if expired else ERROR_LINK_INVALID, expired)
    page = wallet_add_page(member_no=member_no)
    if page is None:
        return _invalid(request, ERROR_LINK_INVALID, expired=False)
    device = wallet_for_user_agent(request.headers.get("User-Agent", ""))
    wallet = ANY if request.GET.get("show") == SHOW_ALL else device
    own_url = f"{settings.OMNICHANNEL_PUBLIC_URL}{request.path}"
    context = {
        "page": page,
        "wallet": wallet,
        "show_apple": wallet in (APPLE, ANY),
        "show_google": wallet in (GOOGLE, ANY),
        "apple_url": reverse("wallet:add_apple", args=[token]),
        "google_url": reverse("wallet:add_google", args=[token]),
        "qr_svg": url_qr_svg(own_url) if wallet == ANY else "",
        "show_all_url": f"{request.path}?show={SHOW_ALL}",
    }
    return _private(render(request, "loyalty/wallet_add.html", context))


def _invalid(request: HttpRequest, reason, expired: bool) -> HttpResponse:
    response = render(
        request,
        "loyalty/wallet_add.html",
        {"invalid": reason, "expired": expired},
        status=410 if expired else 404,
    )
    return _private(response)


def _private(response: HttpResponse) -> HttpResponse:
    # The token is in the address: no cache keeps the page, no Referer carries it away.
    response["Cache-Control"] = NO_STORE
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
