"""Fixtures for campaigns' tests: a sandbox that writes under tmp, no quiet hours unless a test
sets them, and Celery tasks run in the test's thread unless a test starts a real worker."""

import pytest

# --- lead: pipeline --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _campaign_defaults(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    # Tests run at any hour; a test about quiet hours sets its own.
    settings.CAMPAIGN_QUIET_HOURS = {"sms": "", "push": "", "line": "", "email": ""}
    settings.CAMPAIGN_RATE_LIMITS = {"line": 0, "email": 0, "sms": 0, "push": 0}
    settings.CAMPAIGN_BACKENDS = {
        channel: f"campaigns.backends.sandbox.Sandbox{name}"
        for channel, name in (
            ("line", "Line"),
            ("email", "Email"),
            ("sms", "Sms"),
            ("push", "Push"),
        )
    }


@pytest.fixture
def eager_celery(monkeypatch):
    """Tasks run where they are sent (on commit), so a launch runs the whole pipeline."""
    from omnichannel.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


# --- line: the local LINE Messaging API (tests/campaigns/servers/line.py) --------------------
from tests.campaigns.servers.fixtures import line_server  # noqa: E402, F401

# --- email: the SMTP sink (tests/campaigns/servers/smtp.py) ----------------------------------


@pytest.fixture
def smtp_sink(settings):
    """A running SMTP sink, with Django's SMTP backend and the e-mail channel pointed at it."""
    from tests.campaigns.servers.smtp import SmtpSink

    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = sink.host
        settings.EMAIL_PORT = sink.port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 10
        settings.CAMPAIGN_BACKENDS = {
            **settings.CAMPAIGN_BACKENDS,
            "email": "campaigns.backends.email.EmailBackend",
        }
        yield sink
