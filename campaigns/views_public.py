"""Pages members reach from their messages, without a login or a cookie.

The unsubscribe link of every campaign e-mail (List-Unsubscribe, RFC 8058): a GET shows a page
that asks to confirm (a link scanner that follows every URL must not unsubscribe anyone), a POST
unsubscribes: the mail provider's one-click POST (body `List-Unsubscribe=One-Click`, no cookies)
and the page's button alike. The token is the only credential: no session, no CSRF cookie.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.services.unsubscribe import (
    ERROR_LINK_INVALID,
    UnsubscribeInvalid,
    unsubscribe_record,
)
from campaigns.unsubscribe import unsubscribe_target

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
