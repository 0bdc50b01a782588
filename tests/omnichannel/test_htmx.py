"""Issue 9: the one htmx helper every view uses: a partial for htmx, the page otherwise."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django_htmx.middleware import HtmxMiddleware

from omnichannel.htmx import htmx_partial, redirect_htmx, wants_partial

PAGE = "crm/member_detail.html"
HTMX = {"HX-Request": "true"}
HISTORY_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}


def _request(method: str = "get", headers: dict | None = None):
    """A request as django-htmx's middleware leaves it (request.htmx set)."""
    request = getattr(RequestFactory(), method)("/members/M0000001/", headers=headers or {})
    HtmxMiddleware(lambda request: HttpResponse())(request)
    return request


def test_an_htmx_request_gets_the_partial():
    request = _request(headers=HTMX)

    assert wants_partial(request)
    assert htmx_partial(request, PAGE, "timeline") == f"{PAGE}#timeline"


@pytest.mark.parametrize(
    "headers", [{}, HISTORY_RESTORE], ids=["normal request", "history restore"]
)
def test_a_normal_request_and_a_history_restore_get_the_whole_page(headers):
    request = _request(headers=headers)

    assert not wants_partial(request)
    assert htmx_partial(request, PAGE, "timeline") == PAGE


def test_an_htmx_action_redirects_with_hx_redirect():
    response = redirect_htmx(_request("post", HTMX), "/members/M0000001/")

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/members/M0000001/"
    assert "Location" not in response


def test_a_plain_action_redirects_with_a_302():
    response = redirect_htmx(_request("post"), "/members/M0000001/")

    assert response.status_code == 302
    assert response["Location"] == "/members/M0000001/"
    assert "HX-Redirect" not in response
