"""API key scopes (issue 10): what a key may do, fail-closed; create_api_key; the admin."""

import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from ninja.errors import AuthorizationError

from campaigns.models import Campaign
from crm.models import ApiKey, Order, Segment
from crm.segments.definition import EMPTY_DEFINITION
from crm.services.api_keys import (
    ERROR_SCOPES_REQUIRED,
    ApiKeyError,
    api_key_create,
    api_key_hash,
    api_key_scopes_set,
)
from omnichannel.api.auth import ApiKeyAuth
from omnichannel.api.core import api, api_routers_install
from omnichannel.api.scopes import Scope
from omnichannel.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages compared in English: the calls ask for it, the constants are read in it."""
    with translation.override("en"):
        yield


SALE = {
    "channel": "store",
    "external_no": "TPE01-20250312-0042",
    "amount_twd": 1280,
    "placed_at": "2025-03-12T14:05:33+08:00",
    "store_code": "TPE01",
}
SCOPE_REFUSED = "This API key may not do this"


@pytest.fixture
def key_with(alice):
    def _make(*scopes: str, name: str | None = None) -> str:
        return api_key_create(
            name=name or "+".join(scopes) or "none", channel="store", actor=alice, scopes=scopes
        )[1]

    return _make


def _call(method: str, path: str, key: str, body=None):
    client = Client()
    headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
    if method == "get":
        return client.get(f"/api/v1/{path}", headers=headers)
    return client.post(
        f"/api/v1/{path}",
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers=headers,
    )


def _draft() -> Campaign:
    return Campaign.objects.create(
        name="週年慶",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=["sms"],
    )


# --- Enforcement -------------------------------------------------------------------------------


def test_ingest_key_cannot_launch_a_campaign(key_with):
    campaign = _draft()

    response = _call("post", f"campaigns/{campaign.pk}/launch", key_with("ingest"))

    assert response.status_code == 403
    assert SCOPE_REFUSED in response.json()["detail"]
    assert "campaigns" in response.json()["detail"]  # names the scope it lacks
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_ingest_key_cannot_create_or_read_campaigns_nor_list_segments(key_with):
    key = key_with("ingest")
    campaign = _draft()

    assert _call("post", "campaigns", key, {"name": "x"}).status_code == 403
    assert _call("get", f"campaigns/{campaign.pk}", key).status_code == 403
    assert _call("get", "segments", key).status_code == 403
    assert Campaign.objects.count() == 1


def test_campaigns_key_cannot_write_an_order(key_with):
    response = _call("post", "orders", key_with("campaigns"), SALE)

    assert response.status_code == 403
    assert SCOPE_REFUSED in response.json()["detail"]
    assert "ingest" in response.json()["detail"]
    assert not Order.objects.exists()


def test_ingest_key_still_writes_orders(key_with):
    assert _call("post", "orders", key_with("ingest"), SALE).status_code == 201


def test_read_key_reads_but_writes_nothing(key_with):
    key = key_with("read")
    campaign = _draft()

    assert _call("get", "segments", key).status_code == 200
    assert _call("get", f"campaigns/{campaign.pk}", key).status_code == 200
    assert _call("post", f"campaigns/{campaign.pk}/launch", key).status_code == 403
    assert _call("post", "orders", key, SALE).status_code == 403


def test_key_without_scopes_may_do_nothing(key_with, alice):
    key = key_with("ingest")
    ApiKey.objects.update(scopes=[])

    assert _call("post", "orders", key, SALE).status_code == 403
    assert _call("get", "segments", key).status_code == 403


def test_bad_key_is_401_not_403():
    response = _call("get", "segments", "not-a-key-we-made")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_auth_without_a_scope_lets_no_key_through(alice):
    """The API's default auth (an operation that names no scope) is closed, not open."""
    api_key, _key = api_key_create(name="all", channel="store", actor=alice, scopes=Scope.values)

    with pytest.raises(AuthorizationError):
        ApiKeyAuth().scope_check(api_key)
    ApiKeyAuth(Scope.READ).scope_check(api_key)  # holds it: no error


def test_every_operation_names_its_scopes():
    api_routers_install()
    unscoped = []
    for _prefix, router in api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                callbacks = operation.auth_callbacks
                if not callbacks or not all(
                    isinstance(cb, ApiKeyAuth) and cb.scopes for cb in callbacks
                ):
                    unscoped.append((path, operation.methods))
    assert unscoped == []


# --- Keys and their scopes ---------------------------------------------------------------------


def test_keys_made_before_scopes_become_ingest_keys(alice):
    """The data migration's function, on a key as it was before the column existed."""
    from importlib import import_module

    migration = import_module("crm.migrations.0018_apikey_scopes")
    api_key, key = api_key_create(name="old POS", channel="store", actor=alice)
    ApiKey.objects.update(scopes=[])

    migration.existing_keys_ingest(apps, None)

    api_key.refresh_from_db()
    assert api_key.scopes == ["ingest"]
    assert _call("post", "orders", key, SALE).status_code == 201


def test_a_key_is_an_ingest_key_unless_told(alice):
    api_key, _key = api_key_create(name="POS", channel="store", actor=alice)

    assert api_key.scopes == ["ingest"]


def test_scopes_are_checked_and_kept_in_order(alice):
    api_key, _key = api_key_create(
        name="CRM tool", channel="email", actor=alice, scopes=["read", "campaigns", "read"]
    )
    assert api_key.scopes == ["campaigns", "read"]
    with pytest.raises(ApiKeyError, match="Unknown scope admin"):
        api_key_create(name="x", channel="store", actor=alice, scopes=["admin"])
    with pytest.raises(ApiKeyError) as caught:
        api_key_create(name="y", channel="store", actor=alice, scopes=[])
    assert str(caught.value) == str(ERROR_SCOPES_REQUIRED)


def test_scope_change_applies_at_once_and_is_audited(key_with, alice):
    key = key_with("ingest")
    api_key = ApiKey.objects.get()

    api_key_scopes_set(api_key=api_key, scopes=["campaigns"], actor=alice)
    api_key_scopes_set(api_key=api_key, scopes=["campaigns"], actor=alice)  # no change

    assert _call("post", "orders", key, SALE).status_code == 403
    assert _call("get", "segments", key).status_code == 200
    events = AuditEvent.objects.filter(action="api_key_scopes")
    assert events.count() == 1
    assert events.get().summary_params["scopes"] == "campaigns"


# --- manage.py create_api_key ------------------------------------------------------------------


def test_create_api_key_prints_the_key_once_and_stores_its_hash():
    out, err = StringIO(), StringIO()

    call_command(
        "create_api_key",
        "Marketing tool",
        "--channel",
        "email",
        "--scope",
        "campaigns",
        "--scope",
        "read",
        stdout=out,
        stderr=err,
    )

    key = out.getvalue().strip()
    api_key = ApiKey.objects.get()
    assert api_key.name == "Marketing tool"
    assert api_key.channel == "email"
    assert api_key.scopes == ["campaigns", "read"]
    assert api_key.secret_hash == api_key_hash(key)
    assert not ApiKey.objects.filter(secret_hash=key).exists()
    assert key not in err.getvalue()  # printed once, on stdout only
    assert "campaigns, read" in err.getvalue()
    assert _call("get", "segments", key).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channel", "email", "--scope", "admin"], "Unknown scope admin"),
        (["--channel", "fax", "--scope", "ingest"], "Unknown channel fax"),
    ],
)
def test_create_api_key_refuses_unknown_scope_or_channel(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", "Tool", *args, stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_create_api_key_needs_a_scope():
    with pytest.raises(CommandError, match="--scope"):
        call_command("create_api_key", "Tool", "--channel", "store", stdout=StringIO())


# --- Admin -------------------------------------------------------------------------------------


def test_admin_makes_a_key_with_scopes_and_changes_them(login_as):
    client = login_as("alice")

    client.post(
        reverse("admin:crm_apikey_add"),
        {"name": "Marketing tool", "channel": "email", "scopes": ["campaigns", "read"]},
    )
    api_key = ApiKey.objects.get()
    assert api_key.scopes == ["campaigns", "read"]
    changelist = client.get(reverse("admin:crm_apikey_changelist")).content.decode()
    assert "campaigns, read" in changelist

    client.post(
        reverse("admin:crm_apikey_change", args=[api_key.pk]),
        {"name": "ignored", "channel": "store", "scopes": ["read"]},
    )

    api_key.refresh_from_db()
    assert api_key.scopes == ["read"]
    assert (api_key.name, api_key.channel) == ("Marketing tool", "email")  # read-only
    assert AuditEvent.objects.filter(action="api_key_scopes", actor__username="alice").exists()
