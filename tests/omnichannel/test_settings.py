"""Production settings refuse unsafe values, and pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "x" * 20 + "-production-secret-for-the-deploy-check-0123456789"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(env)
    return subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_the_default_secret_key():
    result = _manage("check", OMNICHANNEL_ENV="production", DJANGO_ALLOWED_HOSTS="crm.example.com")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_a_low_entropy_secret_key():
    result = _manage(
        "check",
        OMNICHANNEL_ENV="production",
        DJANGO_SECRET_KEY="changeme" * 8,
        DJANGO_ALLOWED_HOSTS="crm.example.com",
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_empty_allowed_hosts():
    result = _manage("check", OMNICHANNEL_ENV="production", DJANGO_SECRET_KEY=STRONG_SECRET)

    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_production_refuses_debug():
    result = _manage(
        "check",
        OMNICHANNEL_ENV="production",
        DJANGO_SECRET_KEY=STRONG_SECRET,
        DJANGO_ALLOWED_HOSTS="crm.example.com",
        DJANGO_DEBUG="1",
    )

    assert result.returncode != 0
    assert "DJANGO_DEBUG must be off" in result.stderr


def test_malformed_boolean_fails_loudly():
    result = _manage("check", DJANGO_DEBUG="maybe")

    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        OMNICHANNEL_ENV="production",
        DJANGO_SECRET_KEY=STRONG_SECRET,
        DJANGO_ALLOWED_HOSTS="crm.example.com",
    )

    assert result.returncode == 0, result.stderr + result.stdout
