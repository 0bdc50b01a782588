"""Pytest fixtures for Google Wallet: the local Google (tests.loyalty.servers.google_wallet) with
a throwaway service account key under tmp, and the settings that point the project at it."""

import pytest

from loyalty.wallet.google_callbacks import root_keys_forget
from loyalty.wallet.google_updater import google_wallet_forget
from tests.loyalty.servers.google_wallet import GoogleWalletServer, service_account_write


@pytest.fixture
def google_wallet(settings, tmp_path):
    server = GoogleWalletServer().start()
    folder = tmp_path / "google-wallet"
    folder.mkdir()
    account = service_account_write(folder, token_uri=server.token_uri)
    server.add_account(account)
    server.account = account
    settings.GOOGLE_WALLET_ISSUER_ID = "3388000000000000001"
    settings.GOOGLE_WALLET_SERVICE_ACCOUNT_FILE = str(account.path)
    settings.GOOGLE_WALLET_API_BASE_URL = server.url
    settings.GOOGLE_WALLET_CALLBACK_KEYS_URL = server.keys_url
    settings.GOOGLE_WALLET_SAVE_URL = "https://pay.google.com/gp/v/save"
    settings.GOOGLE_WALLET_CONCURRENCY = 4
    settings.OMNICHANNEL_PUBLIC_URL = "https://omni.example.com"
    settings.WALLET_PUSH_ENABLED = True
    google_wallet_forget()
    root_keys_forget()
    yield server
    google_wallet_forget()
    root_keys_forget()
    server.stop()
