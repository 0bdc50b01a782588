"""Shared fixtures: the three personas, logged-in clients, and Playwright on Debian's Chromium."""

import os
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from omnichannel.roles import ADMIN, ANALYST, MARKETER
from omnichannel.services import user_upsert_with_role

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from the same
# thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "pass-for-tests"
CHROMIUM = "/usr/bin/chromium"
PERSONAS = {"alice": ADMIN, "bob": MARKETER, "carol": ANALYST}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _sandbox_accepts_every_address(monkeypatch):
    """The sandbox refuses a share of addresses, drawn from each message's key (the demo's
    realism). In tests that key holds database ids, so which member is refused would change from
    run to run; a test about refusals sets the share it needs."""
    from campaigns.backends.sandbox import REFUSED_SHARE

    for channel in REFUSED_SHARE:
        monkeypatch.setitem(REFUSED_SHARE, channel, 0.0)


def _persona(username: str):
    return user_upsert_with_role(
        username=username,
        password=PASSWORD,
        role=PERSONAS[username],
        email=f"{username}@example.com",
    )


@pytest.fixture
def alice(db):
    """Alice is an Admin: everything, including the Django admin."""
    return _persona("alice")


@pytest.fixture
def bob(db):
    """Bob is a Marketer: members, segments, campaigns, loyalty actions."""
    return _persona("bob")


@pytest.fixture
def carol(db):
    """Carol is an Analyst: reads everything, personal data masked, changes nothing."""
    return _persona("carol")


@pytest.fixture
def login_as(db):
    """A Django test client logged in as the named persona."""

    def _login(username: str) -> Client:
        user = get_user_model().objects.filter(username=username).first() or _persona(username)
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return _login


# --- Celery --------------------------------------------------------------------------------


@pytest.fixture
def celery_worker(transactional_db, monkeypatch):
    """A real Celery worker on the project's broker (Redis in CI, the filesystem one locally).

    Tasks go to a queue of this test's own, so a worker from `make run` on the same broker
    cannot take them. Yields the queue name.
    """
    from celery.contrib.testing.worker import start_worker

    from omnichannel.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=[queue]
    ):
        yield queue


def wait_for(condition, *, timeout: float = 30.0, interval: float = 0.1):
    """Poll until condition() is truthy (a worker's result lands in the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# --- Browser tests ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Marketers in Taiwan browse with zh-TW, which Django serves as zh-Hant.
    return {
        **browser_context_args,
        "viewport": {"width": 1366, "height": 800},
        "locale": "zh-TW",
    }


# Errors a page must never log: htmx refusing an eval (an event filter in hx-trigger, js: in
# hx-vals, hx-on), an hx-trigger it cannot parse, a Content-Security-Policy violation, or an
# uncaught script error. Under the policy htmx skips the eval and logs the error, so the page
# still half-works and a test of its visible behaviour alone would pass.
POLICY_ERRORS = ("htmx:evalDisallowedError", "htmx:syntax:error", "Content Security Policy")
WATCH_CSP = """
window.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`;
  console.error(`Content Security Policy: ${e.violatedDirective} ${where}`);
});
"""


@pytest.fixture
def page(page):
    """pytest-playwright's page, failing the test on any policy error the page logs."""
    errors: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{page.url}: {msg.text}")
            if any(marker in msg.text for marker in POLICY_ERRORS)
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(f"{page.url}: uncaught {error}"))
    yield page
    assert errors == [], f"the page logged policy or script errors: {errors}"


@pytest.fixture
def offsite_requests(page, live_server):
    """Every request the page makes to a host other than the test server (must stay empty)."""
    allowed = urlsplit(live_server.url).netloc
    offsite: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == allowed:
            route.continue_()
        else:
            offsite.append(url)
            route.abort()

    page.route("**/*", guard)
    return offsite


@pytest.fixture
def browser_login(page, live_server, offsite_requests, transactional_db):
    """Log a persona in through the real login form; returns the page on the dashboard."""

    def _login(username: str):
        _persona(username)
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield _login
    assert offsite_requests == [], f"requests left the test server: {offsite_requests}"
