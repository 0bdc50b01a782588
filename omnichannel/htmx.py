"""The two htmx answers every page's views give: a partial or the whole page, and a redirect.

A page is one template whose swappable parts are `{% partialdef %}` blocks (STYLE.md 12): an
htmx request gets only the part it swaps (`"page.html#part"`), any other request the page.

A history restore is the one htmx request that wants the whole page: when the browser goes
back to a page htmx had changed and the page is no longer in htmx's history cache, htmx asks the
URL again with `HX-History-Restore-Request: true` and swaps the answer in for the entire body.
Answering it with a partial would leave the user on a page that is only that partial, so it
gets the page, as a request without htmx does.
"""

from django.http import HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

from omnichannel.http import HtmxHttpRequest


def wants_partial(request: HtmxHttpRequest) -> bool:
    """True for an htmx request that swaps a part of the page; False for a normal request and
    for a history restore, which both want the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def htmx_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The template name to render: `template#partial` when the request swaps only that part
    (see wants_partial), else the whole page `template`."""
    return f"{template}#{partial}" if wants_partial(request) else template


def redirect_htmx(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Go to `url` after an action: an htmx request is told to load it as a full page
    (`HX-Redirect`, so the new page is not swapped into the old one's target); any other request
    gets a plain 302."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
