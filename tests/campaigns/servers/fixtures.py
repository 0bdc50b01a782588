"""Pytest fixtures that start the local provider servers and point settings at them."""

import pytest

from tests.campaigns.servers.line import DEFAULT_TOKEN, LineServer

LINE_TEST_SECRET = "test-line-channel-secret"


@pytest.fixture
def line_server(settings):
    """A local LINE Messaging API; the real LineBackend talks to it."""
    with LineServer() as server:
        settings.LINE_API_BASE_URL = server.url
        settings.LINE_CHANNEL_ACCESS_TOKEN = DEFAULT_TOKEN
        settings.LINE_CHANNEL_SECRET = LINE_TEST_SECRET
        settings.CAMPAIGN_BACKENDS = {
            **settings.CAMPAIGN_BACKENDS,
            "line": "campaigns.backends.line.LineBackend",
        }
        yield server
