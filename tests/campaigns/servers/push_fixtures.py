"""Pytest fixtures for the push channel: a local FCM and a local Web Push service, each with
throwaway keys under tmp, and the settings that send the push channel through them with the
real backend (campaigns.backends.push.PushBackend)."""

import pytest

from tests.campaigns.servers.fcm import FcmServer, service_account_write
from tests.campaigns.servers.webpush import WebPushServer, vapid_keys_write


@pytest.fixture
def fcm_server(settings, tmp_path):
    server = FcmServer().start()
    folder = tmp_path / "fcm"
    folder.mkdir()
    account = service_account_write(folder, token_uri=server.token_uri)
    server.add_account(account)
    server.account = account
    settings.FCM_API_BASE_URL = server.url
    settings.FCM_SERVICE_ACCOUNT_FILE = str(account.path)
    settings.CAMPAIGN_BACKENDS = {
        **settings.CAMPAIGN_BACKENDS,
        "push": "campaigns.backends.push.PushBackend",
    }
    yield server
    server.stop()


@pytest.fixture
def webpush_server(settings, tmp_path):
    folder = tmp_path / "webpush"
    folder.mkdir()
    keys = vapid_keys_write(folder)
    server = WebPushServer(application_server_key=keys.public_key).start()
    server.vapid = keys
    settings.WEBPUSH_VAPID_PRIVATE_KEY = str(keys.path)
    settings.WEBPUSH_VAPID_SUBJECT = "mailto:marketing@example.com"
    settings.WEBPUSH_TTL_SECONDS = 3600
    settings.CAMPAIGN_BACKENDS = {
        **settings.CAMPAIGN_BACKENDS,
        "push": "campaigns.backends.push.PushBackend",
    }
    yield server
    server.stop()
