"""Placeholder replaced by the e-mail branch (one-click unsubscribe)."""

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse


@login_not_required
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404
