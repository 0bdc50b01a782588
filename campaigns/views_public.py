"""Pages members reach from their messages, without a login or a cookie.

Tracked links (/r/<code>) record one click per request and redirect (302) to the link's
address with its UTM parameters; a forged or unknown code gets a page that says so (404) and
records nothing. The open pixel (/o/<code>.gif) records an open and answers a 1×1 GIF.

The unsubscribe link of every campaign e-mail (List-Unsubscribe, RFC 8058): a GET shows a page
that asks to confirm (a link scanner that follows every URL must not unsubscribe anyone), a POST
unsubscribes: the mail provider's one-click POST (body `List-Unsubscribe=One-Click`, no cookies)
and the page's button alike. The token is the only credential: no session, no CSRF cookie.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.services.tracking import TrackingInvalid, email_open_record, link_click_record
from campaigns.services.unsubscribe import (
    ERROR_LINK_INVALID,
    UnsubscribeInvalid,
    unsubscribe_record,
)
from campaigns.unsubscribe import unsubscribe_target

# The smallest transparent GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
    b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = "no-store, no-cache, must-revalidate, private"

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


@login_not_required
@csrf_exempt  # RFC 8058: the provider's POST carries no cookie and no token but the link's
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        try:
            done = unsubscribe_record(
                token=token,
                ip=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                one_click=request.POST.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE,
            )
        except UnsubscribeInvalid as error:
            return _invalid(request, str(error))
        return render(request, "campaigns/unsubscribe.html", {"done": done, "token": token})
    target = unsubscribe_target(token)
    if target is None:
        return _invalid(request, str(ERROR_LINK_INVALID))
    return render(request, "campaigns/unsubscribe.html", {"target": target, "token": token})


def _invalid(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "campaigns/unsubscribe.html", {"invalid": reason}, status=400)


def _client(request: HttpRequest) -> tuple[str, str | None]:
    return request.META.get("HTTP_USER_AGENT", ""), request.META.get("REMOTE_ADDR")


@login_not_required
@csrf_exempt  # a link in a message: no session, no form
@require_http_methods(["GET", "HEAD"])
def link_redirect(request: HttpRequest, code: str) -> HttpResponse:
    user_agent, ip = _client(request)
    try:
        click = link_click_record(
            code=code, user_agent=user_agent, ip=ip, record=request.method == "GET"
        )
    except TrackingInvalid as error:
        return render(request, "campaigns/link_invalid.html", {"reason": str(error)}, status=404)
    response = HttpResponseRedirect(click.url)  # 302: each click must come back to us
    response["Cache-Control"] = NO_STORE
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, code: str) -> HttpResponse:
    user_agent, ip = _client(request)
    try:
        if request.method == "GET":
            email_open_record(code=code, user_agent=user_agent, ip=ip)
    except TrackingInvalid:
        status = 404
    else:
        status = 200
    # The image either way, so a mail client shows no broken picture.
    response = HttpResponse(PIXEL_GIF, content_type="image/gif", status=status)
    response["Cache-Control"] = NO_STORE
    return response
