"""Fixtures for campaigns' tests: a sandbox that writes under tmp, no quiet hours unless a test
sets them, and Celery tasks run in the test's thread unless a test starts a real worker."""

import pytest

from tests.campaigns.settings_helpers import use_sandbox

# --- lead: pipeline --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _campaign_defaults(settings, tmp_path):
    use_sandbox(settings, tmp_path)


@pytest.fixture
def eager_celery(monkeypatch):
    """Tasks run where they are sent (on commit), so a launch runs the whole pipeline."""
    from omnichannel.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


# --- sms helper: local Twilio and Mitake servers (tests/campaigns/servers/) -----------------

# --- line: the local LINE Messaging API (tests/campaigns/servers/line.py) --------------------
from tests.campaigns.servers.fixtures import line_server  # noqa: E402, F401
from tests.campaigns.servers.mitake import mitake_server  # noqa: E402, F401

# --- push helper: a local FCM and a local Web Push service ------------------------------------
from tests.campaigns.servers.push_fixtures import fcm_server, webpush_server  # noqa: E402, F401
from tests.campaigns.servers.twilio import twilio_server  # noqa: E402, F401

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
