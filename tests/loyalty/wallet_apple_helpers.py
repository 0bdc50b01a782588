"""Apple Wallet tests share one development chain per session, made in a temporary directory
(never var/), and the settings pointing at it; and read a .pkpass back."""

import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from loyalty.wallet.dev_certificates import (
    PASS_CERTIFICATE,
    PASS_KEY,
    ROOT_CERTIFICATE,
    WWDR_CERTIFICATE,
    dev_secrets_write,
)

PASS_TYPE_ID = "pass.test.omnichannel.member"
TEAM_ID = "TEAMTEST01"
WEB_SERVICE_URL = "https://wallet.test/wallet/apple"


@pytest.fixture(scope="session")
def apple_dev_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("wallet-dev")
    dev_secrets_write(directory=directory, pass_type_id=PASS_TYPE_ID, team_id=TEAM_ID)
    return directory


@pytest.fixture
def apple_dev(apple_dev_dir, settings) -> Path:
    settings.APPLE_WALLET_PASS_TYPE_ID = PASS_TYPE_ID
    settings.APPLE_WALLET_TEAM_ID = TEAM_ID
    settings.APPLE_WALLET_CERTIFICATE = str(apple_dev_dir / PASS_CERTIFICATE)
    settings.APPLE_WALLET_KEY = str(apple_dev_dir / PASS_KEY)
    settings.APPLE_WALLET_KEY_PASSWORD = ""
    settings.APPLE_WALLET_WWDR_CERTIFICATE = str(apple_dev_dir / WWDR_CERTIFICATE)
    settings.APPLE_WALLET_WEB_SERVICE_URL = WEB_SERVICE_URL
    settings.WALLET_DEV_DIR = apple_dev_dir
    return apple_dev_dir


def pkpass_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pkpass_json(data: bytes) -> dict:
    return json.loads(pkpass_files(data)["pass.json"])


def openssl_verify(files: dict[str, bytes], directory: Path, root: Path) -> subprocess.Popen:
    """Apple's check, by openssl: the detached signature over manifest.json, chained to root."""
    (directory / "manifest.json").write_bytes(files["manifest.json"])
    (directory / "signature").write_bytes(files["signature"])
    return subprocess.run(  # noqa: S603 (fixed arguments, our own files)
        [
            "/usr/bin/openssl",
            "smime",
            "-verify",
            "-inform",
            "DER",
            "-in",
            str(directory / "signature"),
            "-content",
            str(directory / "manifest.json"),
            "-CAfile",
            str(root / ROOT_CERTIFICATE),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
