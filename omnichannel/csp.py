"""The Content-Security-Policy header on every response.

Everything the product serves is its own (Bootstrap, icons, htmx, Swagger UI from static
files; no CDN), so the policy is 'self' only: no inline script, no style attribute, no eval.
Page behaviours live in static/js/app.js; htmx is configured (base.html's htmx-config) to
inject no <style> and evaluate nothing. `data:` images are Bootstrap's form-control SVGs and
the favicon.

A small middleware rather than django-csp: the policy is one fixed header with no nonces and
no per-view exceptions, which is a dictionary and six lines; the library's features (nonces,
report-only, decorators) would go unused, for a dependency more in five merging branches.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
DEFAULT_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy_header() -> str:
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.header = policy_header()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(HEADER, self.header)
        return response
